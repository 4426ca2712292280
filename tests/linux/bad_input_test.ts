/** Bad input: typed errors with precise messages, and nothing half-created. */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import {
  addAddress,
  addRoute,
  createBridge,
  createVeth,
  createVxlan,
  deleteLink,
  getLink,
  inNetns,
  moveToNetns,
  renameLink,
  setMaster,
  setMtu,
} from "../../net/linux/mod.ts";
import { ipLinks, linuxError, netnsPath, PREFIX } from "./helpers.ts";

const ignore = !IS_ROOT;

async function linkNames(ns: string): Promise<string[]> {
  return (await ipLinks(ns)).map((l) => l.ifname).sort();
}

Deno.test(
  { name: "creating an existing link: EEXIST, the existing one untouched", ignore },
  async () => {
    await withNamespaces(PREFIX, async (ns) => {
      const a = ns.add();
      inNetns(netnsPath(a), () => createVeth("vethwepl1234", "p1", { mtu: 1400 }));
      assert.throws(
        () => inNetns(netnsPath(a), () => createVeth("vethwepl1234", "p2")),
        linuxError("EEXIST", 'create veth "vethwepl1234" failed: EEXIST (File exists)'),
      );
      assert.throws(
        () => inNetns(netnsPath(a), () => createBridge("p1")),
        linuxError("EEXIST", 'create bridge "p1" failed: EEXIST (File exists)'),
      );
      assert.deepEqual(await linkNames(a), ["lo", "p1", "vethwepl1234"], "no p2 was left behind");
      assert.equal((await ipLinks(a, "dev", "vethwepl1234"))[0].mtu, 1400);
    });
  },
);

Deno.test({
  name: "a veth whose peer name is taken in the peer netns: EEXIST, host end not created",
  ignore,
}, async () => {
  await withNamespaces(PREFIX, async (ns) => {
    const host = ns.add("h");
    const pod = ns.add("p");
    inNetns(netnsPath(pod), () => createBridge("eth0"));
    assert.throws(
      () =>
        inNetns(netnsPath(host), () => createVeth("vethA", "eth0", { peerNetns: netnsPath(pod) })),
      linuxError("EEXIST", /^create veth "vethA" failed: EEXIST/),
    );
    assert.deepEqual(await linkNames(host), ["lo"]);
    assert.deepEqual(await linkNames(pod), ["eth0", "lo"]);
  });
});

Deno.test({ name: "deleting or changing a missing link: ENODEV naming it", ignore }, async () => {
  await withNamespaces(PREFIX, (ns) => {
    const a = netnsPath(ns.add());
    inNetns(a, () => {
      assert.throws(
        () => deleteLink("nosuch0"),
        linuxError("ENODEV", 'delete link "nosuch0" failed: ENODEV (No such device)'),
      );
      assert.throws(
        () => deleteLink(4242),
        linuxError("ENODEV", 'delete link "ifindex 4242" failed: ENODEV (No such device)'),
      );
      assert.throws(
        () => getLink("nosuch0"),
        linuxError("ENODEV", 'get link "nosuch0" failed: ENODEV (No such device)'),
      );
      assert.throws(
        () => setMtu("nosuch0", 1400),
        linuxError("ENODEV", /^set mtu "nosuch0" failed: ENODEV/),
      );
      createVeth("x1", "x2");
      assert.throws(
        () => setMaster("x1", "nobridge"),
        linuxError("ENODEV", 'set master "x1" failed: ENODEV (No such device: no link "nobridge")'),
      );
      assert.throws(
        () => addAddress("nosuch0", "10.0.0.1/24"),
        linuxError(
          "ENODEV",
          'add address 10.0.0.1/24 on "nosuch0" failed: ENODEV (No such device)',
        ),
      );
      assert.throws(
        () => addRoute({ dst: "10.0.0.0/8", dev: "nosuch0" }),
        linuxError(
          "ENODEV",
          'add route "10.0.0.0/8 dev nosuch0" failed: ENODEV (No such device: no link "nosuch0")',
        ),
      );
      assert.throws(
        () => renameLink("x1", "x2"),
        linuxError("EEXIST", 'rename link "x1" failed: EEXIST (File exists: new name "x2")'),
      );
    });
  });
});

Deno.test({ name: "invalid names are refused before the kernel sees them", ignore }, async () => {
  await withNamespaces(PREFIX, async (ns) => {
    const a = ns.add();
    inNetns(netnsPath(a), () => {
      assert.throws(
        () => createVeth("vethwepl12345678", "p"),
        linuxError(
          "EINVAL",
          'create veth "vethwepl12345678" failed: EINVAL (Invalid argument: interface name is 16 bytes, at most 15 allowed)',
        ),
      );
      assert.throws(
        () => createVeth("ok0", "bad/name"),
        linuxError(
          "EINVAL",
          `create veth "bad/name" failed: EINVAL (Invalid argument: interface name cannot contain '/')`,
        ),
      );
      assert.throws(() => createBridge(""), linuxError("EINVAL", /interface name is empty/));
      assert.throws(() => createBridge(".."), linuxError("EINVAL", /cannot be "\.\."/));
      assert.throws(() => createBridge("a b"), linuxError("EINVAL", /whitespace/));
      assert.throws(
        () => deleteLink("a/b"),
        linuxError("EINVAL", /^delete link "a\/b" failed: EINVAL/),
      );
      assert.throws(
        () => createVeth("ok0", "ok1", { peerMac: "zz" }),
        linuxError("EINVAL", /invalid MAC address "zz"/),
      );
      assert.throws(
        () => createVeth("ok0", "ok1", { mtu: 10 }),
        linuxError("EINVAL", /MTU 10 is outside 68\.\.65535/),
      );
      assert.throws(
        () => createVxlan("vx0", { vni: 1 << 24, port: 4789 }),
        linuxError("EINVAL", /VNI 16777216 is outside/),
      );
      assert.throws(
        () => createVxlan("vx0", { vni: 1, port: 4789, local: "1.2.3" }),
        linuxError("EINVAL", /invalid IPv4 address "1.2.3"/),
      );
    });
    assert.deepEqual(await linkNames(a), ["lo"], "nothing was created");
  });
});

Deno.test(
  { name: "a missing netns path: ENOENT naming the path, nothing created", ignore },
  async () => {
    await withNamespaces(PREFIX, async (ns) => {
      const a = ns.add();
      const missing = `/run/netns/${PREFIX}-does-not-exist`;
      assert.throws(
        () => inNetns(missing, () => 1),
        linuxError(
          "ENOENT",
          `enter netns "${missing}" failed: ENOENT (No such file or directory: no such network namespace path)`,
        ),
      );
      inNetns(netnsPath(a), () => {
        assert.throws(
          () => createVeth("vethB", "eth0", { peerNetns: missing }),
          linuxError(
            "ENOENT",
            `create veth "vethB": open peer netns "${missing}" failed: ENOENT (No such file or directory: no such network namespace path)`,
          ),
        );
        createVeth("m1", "m2");
        assert.throws(
          () => moveToNetns("m2", missing),
          linuxError(
            "ENOENT",
            /^move "m2" to netns "\/run\/netns\/wtl-does-not-exist" failed: ENOENT/,
          ),
        );
      });
      assert.deepEqual(await linkNames(a), ["lo", "m1", "m2"]);
      // A file that exists but is not a namespace: the kernel refuses it.
      assert.throws(
        () =>
          inNetns(netnsPath(a), () => createVeth("vethC", "eth0", { peerNetns: "/etc/hostname" })),
        linuxError("EINVAL", /^create veth "vethC" failed: EINVAL/),
      );
      assert.deepEqual(await linkNames(a), ["lo", "m1", "m2"]);
    });
  },
);
