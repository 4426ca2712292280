/** Routes: add, replace, delete, list — checked against `ip -j route show`. */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { ipJson } from "../harness/sh.ts";
import {
  addAddress,
  addRoute,
  createVeth,
  deleteRoute,
  getLink,
  inNetns,
  listRoutes,
  replaceRoute,
  type Route,
  setLinkUp,
} from "../../net/linux/mod.ts";
import { linuxError, netnsPath, PREFIX } from "./helpers.ts";

const ignore = !IS_ROOT;

interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  scope?: string;
  metric?: number;
  prefsrc?: string;
  protocol?: string;
  flags?: string[];
}

/** `ip` prints "default" and host routes without "/32"; ours are always CIDRs. */
function ipDst(dst: string, family: 4 | 6 = 4): string {
  if (dst === "default") return family === 4 ? "0.0.0.0/0" : "::/0";
  return dst.includes("/") ? dst : `${dst}/${family === 4 ? 32 : 128}`;
}

/** The fields both views share, in ip's vocabulary. */
function fromIp(r: IpRoute, family: 4 | 6 = 4) {
  return {
    dst: ipDst(r.dst, family),
    gateway: r.gateway,
    dev: r.dev,
    scope: r.scope ?? "universe",
    metric: r.metric,
    onlink: r.flags?.includes("onlink") ?? false,
    src: r.prefsrc,
  };
}

function fromOurs(r: Route, names: Map<number, string>) {
  return {
    dst: r.dst,
    gateway: r.gateway,
    dev: r.dev === undefined ? undefined : names.get(r.dev),
    scope: r.scope === "universe" ? "universe" : r.scope,
    metric: r.metric,
    onlink: r.onlink ?? false,
    src: r.src,
  };
}

function setup(path: string): Map<number, string> {
  return inNetns(path, () => {
    createVeth("eth0", "peer0");
    setLinkUp("eth0");
    setLinkUp("peer0");
    addAddress("eth0", "10.1.0.1/24");
    const l = getLink("eth0");
    return new Map([[l.index, l.name]]);
  });
}

Deno.test({
  name: "routes: gateway+metric, scope link, onlink, default, table; replace and delete",
  ignore,
}, async () => {
  await withNamespaces(PREFIX, async (ns) => {
    const a = ns.add();
    const path = netnsPath(a);
    const names = setup(path);
    inNetns(path, () => {
      addRoute({ dst: "10.2.0.0/16", gateway: "10.1.0.2", metric: 7 });
      addRoute({ dst: "10.32.0.0/12", dev: "eth0" }); // no gateway: scope link
      addRoute({ dst: "10.3.0.0/16", gateway: "192.168.0.1", dev: "eth0", onlink: true });
      addRoute({ dst: "0.0.0.0/0", gateway: "10.1.0.254" });
      addRoute({ dst: "10.4.0.9/32", dev: "eth0", scope: "link", src: "10.1.0.1" });
      addRoute({ dst: "10.5.0.0/16", gateway: "10.1.0.3", table: 100 });
      addRoute({ dst: "10.6.0.0/16", gateway: "10.1.0.3", table: 1000 });
    });
    const ip = (await ipJson<IpRoute[]>(a, "route", "show")).map((r) => fromIp(r));
    const ours = inNetns(path, () => listRoutes()).map((r) => fromOurs(r, names));
    assert.deepEqual(ours, ip);
    assert.deepEqual(
      ip.map((r) => r.dst).sort(),
      ["0.0.0.0/0", "10.1.0.0/24", "10.2.0.0/16", "10.3.0.0/16", "10.32.0.0/12", "10.4.0.9/32"],
    );
    assert.deepEqual(ip.find((r) => r.dst === "10.2.0.0/16"), {
      dst: "10.2.0.0/16",
      gateway: "10.1.0.2",
      dev: "eth0",
      scope: "universe",
      metric: 7,
      onlink: false,
      src: undefined,
    });
    assert.equal(ip.find((r) => r.dst === "10.32.0.0/12")?.scope, "link");
    assert.equal(ip.find((r) => r.dst === "10.3.0.0/16")?.onlink, true);
    assert.equal(ip.find((r) => r.dst === "10.4.0.9/32")?.src, "10.1.0.1");
    for (const table of [100, 1000]) {
      const t = (await ipJson<IpRoute[]>(a, "route", "show", "table", `${table}`)).map((r) =>
        fromIp(r)
      );
      assert.deepEqual(
        inNetns(path, () => listRoutes({ table })).map((r) => fromOurs(r, names)),
        t,
      );
      assert.equal(t.length, 1);
    }
    const everything = inNetns(path, () => listRoutes({ table: 0 }));
    assert.ok(
      everything.some((r) => r.table === 255 && r.dst === "10.1.0.1/32"),
      "local table listed",
    );

    inNetns(path, () => {
      replaceRoute({ dst: "10.2.0.0/16", gateway: "10.1.0.9", metric: 7 });
      replaceRoute({ dst: "10.7.0.0/16", gateway: "10.1.0.9" }); // replace creates when absent
      deleteRoute({ dst: "10.32.0.0/12" });
      deleteRoute({ dst: "0.0.0.0/0" });
      deleteRoute({ dst: "10.6.0.0/16", table: 1000 });
    });
    const after = (await ipJson<IpRoute[]>(a, "route", "show")).map((r) => fromIp(r));
    assert.equal(after.find((r) => r.dst === "10.2.0.0/16")?.gateway, "10.1.0.9");
    assert.equal(after.filter((r) => r.dst === "10.2.0.0/16").length, 1, "replaced, not added");
    assert.ok(after.some((r) => r.dst === "10.7.0.0/16"));
    assert.ok(!after.some((r) => r.dst === "10.32.0.0/12" || r.dst === "0.0.0.0/0"));
    assert.deepEqual(await ipJson(a, "route", "show", "table", "1000"), []);
  });
});

Deno.test({ name: "IPv6 routes are listed and added like IPv4 ones", ignore }, async () => {
  await withNamespaces(PREFIX, async (ns) => {
    const a = ns.add();
    const path = netnsPath(a);
    const names = setup(path);
    inNetns(path, () => addRoute({ dst: "fd00:1::/64", dev: "eth0", metric: 50 }));
    const ip = (await ipJson<IpRoute[]>(a, "-6", "route", "show")).map((r) => fromIp(r, 6));
    const ours = inNetns(path, () => listRoutes({ family: 6 })).map((r) => fromOurs(r, names));
    assert.deepEqual(
      ours.filter((r) => r.dst === "fd00:1::/64"),
      ip.filter((r) => r.dst === "fd00:1::/64"),
    );
    assert.equal(ip.find((r) => r.dst === "fd00:1::/64")?.metric, 50);
  });
});

Deno.test({
  name: "route errors: duplicate EEXIST, missing ESRCH, unreachable gateway, bad prefix",
  ignore,
}, async () => {
  await withNamespaces(PREFIX, (ns) => {
    const path = netnsPath(ns.add());
    setup(path);
    inNetns(path, () => {
      addRoute({ dst: "10.2.0.0/16", gateway: "10.1.0.2" });
      assert.throws(
        () => addRoute({ dst: "10.2.0.0/16", gateway: "10.1.0.2" }),
        linuxError("EEXIST", 'add route "10.2.0.0/16 via 10.1.0.2" failed: EEXIST (File exists)'),
      );
      assert.throws(
        () => deleteRoute({ dst: "10.99.0.0/16" }),
        linuxError("ESRCH", 'delete route "10.99.0.0/16" failed: ESRCH (No such process)'),
      );
      assert.throws(
        () => addRoute({ dst: "10.8.0.0/16", gateway: "172.16.0.1" }),
        linuxError("ENETUNREACH", /^add route "10.8.0.0\/16 via 172.16.0.1" failed: ENETUNREACH/),
      );
      // Host bits set: the kernel's extended ack says why.
      assert.throws(
        () => addRoute({ dst: "10.9.0.1/16", dev: "eth0" }),
        linuxError(
          "EINVAL",
          /^add route "10.9.0.1\/16 dev eth0" failed: EINVAL \(Invalid argument: .*prefix/i,
        ),
      );
      assert.throws(
        () => addRoute({ dst: "10.9.0.0/16", gateway: "fd00::1" }),
        linuxError("EINVAL", /families differ/),
      );
    });
  });
});
