/** Network namespaces: inNetns always returns; named namespaces made and removed without `ip`. */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { ipJson, shSync } from "../harness/sh.ts";
import {
  addAddress,
  closeFd,
  createNetns,
  createVeth,
  currentNetnsInode,
  deleteNetns,
  inNetns,
  listLinks,
  netnsExists,
  setLinkUp,
  udpSocket,
} from "../../net/linux/mod.ts";
import { linuxError, netnsPath, PREFIX } from "./helpers.ts";

const ignore = !IS_ROOT;

function inodeOf(path: string): number {
  return Deno.statSync(path).ino!;
}

Deno.test(
  { name: "inNetns runs inside the namespace and returns after an exception", ignore },
  async () => {
    await withNamespaces(PREFIX, (ns) => {
      const path = netnsPath(ns.add());
      const home = currentNetnsInode();
      const link = () => Deno.readLinkSync("/proc/thread-self/ns/net");
      const homeLink = link();
      assert.notEqual(home, inodeOf(path));

      assert.equal(inNetns(path, () => currentNetnsInode()), inodeOf(path));
      assert.deepEqual(inNetns(path, () => listLinks().map((l) => l.name)), ["lo"]);
      assert.throws(
        () =>
          inNetns(path, () => {
            assert.equal(currentNetnsInode(), inodeOf(path));
            throw new Error("boom inside");
          }),
        /boom inside/,
      );
      assert.equal(currentNetnsInode(), home, "back home after the throw");
      assert.equal(link(), homeLink);
      // A kernel error inside propagates unchanged, and we are still back.
      assert.throws(() => inNetns(path, () => createVeth("lo", "x0")), linuxError("EEXIST"));
      assert.equal(currentNetnsInode(), home);
    });
  },
);

Deno.test({ name: "nested inNetns returns to each previous namespace", ignore }, async () => {
  await withNamespaces(PREFIX, (ns) => {
    const a = netnsPath(ns.add("a"));
    const b = netnsPath(ns.add("b"));
    const home = currentNetnsInode();
    const seen = inNetns(a, () => {
      const inA = currentNetnsInode();
      const inB = inNetns(b, () => currentNetnsInode());
      let afterThrow = 0;
      try {
        inNetns(b, () => {
          throw new Error("inner");
        });
      } catch {
        afterThrow = currentNetnsInode();
      }
      return [inA, inB, currentNetnsInode(), afterThrow];
    });
    assert.deepEqual(seen, [inodeOf(a), inodeOf(b), inodeOf(a), inodeOf(a)]);
    assert.equal(currentNetnsInode(), home);
  });
});

Deno.test({
  name: "inNetns refuses an async function (it would run outside) and still returns",
  ignore,
}, async () => {
  await withNamespaces(PREFIX, (ns) => {
    const path = netnsPath(ns.add());
    const home = currentNetnsInode();
    const asyncFn = (() => Promise.resolve(1)) as unknown as () => number;
    assert.throws(
      () => inNetns(path, asyncFn),
      linuxError("EINVAL", /returned a promise; only synchronous work/),
    );
    assert.equal(currentNetnsInode(), home);
  });
});

Deno.test(
  { name: "a socket opened inside keeps the namespace after leaving", ignore },
  async () => {
    await withNamespaces(PREFIX, (ns) => {
      const path = netnsPath(ns.add());
      const fd = inNetns(path, () => {
        createVeth("e0", "e1");
        setLinkUp("e0");
        addAddress("e0", "10.77.0.1/24");
        return udpSocket({ ip: "10.77.0.1" }); // the address exists only in that namespace
      });
      closeFd(fd);
      assert.throws(
        () => udpSocket({ ip: "10.77.0.1" }),
        linuxError("EADDRNOTAVAIL", /bind udp socket "10.77.0.1:0"/),
      );
    });
  },
);

Deno.test(
  { name: "inNetns accepts /proc/PID/ns/net of a process in that namespace", ignore },
  async () => {
    await withNamespaces(PREFIX, async (ns) => {
      const name = ns.add();
      inNetns(netnsPath(name), () => createVeth("procveth0", "procveth1"));
      const child = new Deno.Command("ip", {
        args: ["netns", "exec", name, "sleep", "30"],
        stdout: "null",
        stderr: "null",
      })
        .spawn();
      try {
        const procPath = `/proc/${child.pid}/ns/net`;
        const deadline = Date.now() + 5000;
        while (inodeOf(procPath) !== inodeOf(netnsPath(name))) {
          if (Date.now() > deadline) throw new Error("child never entered the namespace");
          await new Promise((r) => setTimeout(r, 10));
        }
        const names = inNetns(procPath, () => listLinks().map((l) => l.name)).sort();
        assert.deepEqual(names, ["lo", "procveth0", "procveth1"]);
      } finally {
        child.kill("SIGKILL");
        await child.status;
      }
    });
  },
);

Deno.test(
  { name: "createNetns/deleteNetns: a named namespace ip can see, then gone", ignore },
  async () => {
    const name = `${PREFIX}${Deno.pid}-own`;
    try {
      const home = currentNetnsInode();
      const path = createNetns(name);
      assert.equal(path, `/run/netns/${name}`);
      assert.equal(currentNetnsInode(), home, "the creating thread is back home");
      assert.ok(netnsExists(path));
      assert.notEqual(inodeOf(path), home, "a new namespace, not ours");
      const listed = await ipJson<{ name: string }[]>(null, "netns", "list");
      assert.ok(listed.some((n) => n.name === name), "ip netns list shows it");
      assert.deepEqual(
        (await ipJson<{ ifname: string }[]>(name, "link", "show")).map((l) => l.ifname),
        ["lo"],
      );
      inNetns(path, () => createVeth("ownv0", "ownv1"));
      assert.equal((await ipJson<unknown[]>(name, "link", "show")).length, 3);

      assert.throws(
        () => createNetns(name),
        linuxError("EEXIST", `create netns "${name}" failed: EEXIST (File exists)`),
      );
      assert.throws(
        () => createNetns("a/b"),
        linuxError("EINVAL", /netns name cannot contain '\/'/),
      );

      deleteNetns(name);
      assert.ok(!netnsExists(path));
      assert.ok(
        !(await ipJson<{ name: string }[]>(null, "netns", "list")).some((n) => n.name === name),
      );
      assert.throws(
        () => deleteNetns(name),
        linuxError("ENOENT", `delete netns "${name}" failed: ENOENT (No such file or directory)`),
      );
    } finally {
      if (netnsExists(`/run/netns/${name}`)) shSync("ip", "netns", "delete", name);
    }
  },
);

Deno.test({ name: "netnsExists: true for namespace files only", ignore }, () => {
  assert.equal(netnsExists("/proc/self/ns/net"), true);
  assert.equal(netnsExists("/proc/thread-self/ns/net"), true);
  assert.equal(netnsExists("/etc/hostname"), false);
  assert.equal(netnsExists(`/run/netns/${PREFIX}-missing`), false);
});
