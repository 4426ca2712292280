/** Neighbours and bridge/VXLAN FDB entries — checked against `ip -j neigh` and `bridge -j fdb`. */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { ipJson } from "../harness/sh.ts";
import {
  addFdb,
  addNeigh,
  appendFdb,
  createBridge,
  createVeth,
  createVxlan,
  deleteFdb,
  deleteNeigh,
  getLink,
  inNetns,
  listFdb,
  listNeigh,
  replaceFdb,
  replaceNeigh,
  setMaster,
} from "../../net/linux/mod.ts";
import { bridgeFdb, linuxError, netnsPath, PREFIX } from "./helpers.ts";

const ignore = !IS_ROOT;

interface IpNeigh {
  dst: string;
  dev: string;
  lladdr?: string;
  state: string[];
}

Deno.test({ name: "neighbours: add, replace, list, delete", ignore }, async () => {
  await withNamespaces(PREFIX, async (ns) => {
    const a = ns.add();
    const path = netnsPath(a);
    const index = inNetns(path, () => {
      createVeth("eth0", "peer0");
      addNeigh({ dev: "eth0", ip: "10.1.0.9", mac: "02:00:00:00:00:09" });
      addNeigh({ dev: "eth0", ip: "10.1.0.10", mac: "02:00:00:00:00:0a", state: "reachable" });
      addNeigh({ dev: "eth0", ip: "fd00::9", mac: "02:00:00:00:00:99" });
      return getLink("eth0").index;
    });
    const shape = (
      n: { dst: string; lladdr?: string; state: string[] },
    ) => [n.dst, n.lladdr, n.state];
    let ip = await ipJson<IpNeigh[]>(a, "neigh", "show", "dev", "eth0");
    assert.deepEqual(ip.map(shape).sort(), [
      ["10.1.0.10", "02:00:00:00:00:0a", ["REACHABLE"]],
      ["10.1.0.9", "02:00:00:00:00:09", ["PERMANENT"]],
      ["fd00::9", "02:00:00:00:00:99", ["PERMANENT"]],
    ]);
    const ours = inNetns(path, () => listNeigh("eth0"));
    assert.ok(ours.every((n) => n.dev === index));
    assert.deepEqual(
      ours.map((n) => shape({ dst: n.ip, lladdr: n.mac, state: n.state })).sort(),
      ip.map(shape).sort(),
    );

    inNetns(path, () => {
      replaceNeigh({ dev: "eth0", ip: "10.1.0.9", mac: "02:00:00:00:00:19" });
      replaceNeigh({ dev: "eth0", ip: "10.1.0.11", mac: "02:00:00:00:00:0b" });
      deleteNeigh({ dev: "eth0", ip: "10.1.0.10" });
      deleteNeigh({ dev: index, ip: "fd00::9" });
    });
    ip = await ipJson<IpNeigh[]>(a, "neigh", "show", "dev", "eth0");
    assert.deepEqual(ip.map(shape).sort(), [
      ["10.1.0.11", "02:00:00:00:00:0b", ["PERMANENT"]],
      ["10.1.0.9", "02:00:00:00:00:19", ["PERMANENT"]],
    ]);
    inNetns(path, () => {
      assert.throws(
        () => addNeigh({ dev: "eth0", ip: "10.1.0.9", mac: "02:00:00:00:00:09" }),
        linuxError("EEXIST", 'add neighbour 10.1.0.9 on "eth0" failed: EEXIST (File exists)'),
      );
      assert.throws(
        () => deleteNeigh({ dev: "eth0", ip: "10.1.0.99" }),
        linuxError("ENOENT", /^delete neighbour 10.1.0.99 on "eth0" failed: ENOENT/),
      );
      assert.throws(
        () => addNeigh({ dev: "eth0", ip: "10.1.0.12" }),
        linuxError("EINVAL", /needs a MAC/),
      );
    });
  });
});

interface BridgeFdb {
  mac: string;
  ifname: string;
  dst?: string;
  flags: string[];
  master?: string;
  state: string;
}

/** The fields both views share, in bridge's vocabulary. */
function fdbShape(e: BridgeFdb) {
  return `${e.mac} ${e.ifname} dst=${e.dst ?? "-"} ${
    e.flags.filter((f) => f === "self").join(",")
  } master=${e.master ?? "-"} ${e.state || "-"}`;
}

Deno.test({
  name: "bridge FDB: static entry on a port (master), listed like bridge fdb show",
  ignore,
}, async () => {
  await withNamespaces(PREFIX, async (ns) => {
    const a = ns.add();
    const path = netnsPath(a);
    inNetns(path, () => {
      createBridge("weave");
      createVeth("vp1", "vp2");
      setMaster("vp1", "weave");
      addFdb({ dev: "vp1", mac: "02:00:00:00:01:01", master: true, permanent: false });
    });
    // (with "dev X" bridge omits ifname, so take everything and filter)
    const fdb = (await bridgeFdb(a) as unknown as BridgeFdb[]).filter((e) => e.ifname === "vp1");
    const entry = fdb.find((e) => e.mac === "02:00:00:00:01:01");
    assert.deepEqual(entry && [entry.ifname, entry.master, entry.state], [
      "vp1",
      "weave",
      "static",
    ]);

    const names = inNetns(
      path,
      () =>
        new Map([getLink("weave"), getLink("vp1"), getLink("vp2")].map((l) => [l.index, l.name])),
    );
    const ours = inNetns(path, () => listFdb("vp1")).map((e) =>
      fdbShape({
        mac: e.mac,
        ifname: names.get(e.dev)!,
        dst: e.dst,
        flags: e.self ? ["self"] : [],
        master: e.bridge === undefined ? undefined : names.get(e.bridge),
        // bridge's wording for the state bits
        state: e.permanent
          ? "permanent"
          : e.state.includes("NOARP")
          ? "static"
          : e.state.includes("STALE")
          ? "stale"
          : "",
      })
    );
    assert.deepEqual(ours.sort(), fdb.map(fdbShape).sort());

    inNetns(path, () => deleteFdb({ dev: "vp1", mac: "02:00:00:00:01:01", master: true }));
    assert.ok(!(await bridgeFdb(a, "dev", "vp1")).some((e) => e.mac === "02:00:00:00:01:01"));
  });
});

Deno.test({
  name: "VXLAN FDB: entries with dst, append for flooding, replace, delete one remote",
  ignore,
}, async () => {
  await withNamespaces(PREFIX, async (ns) => {
    const a = ns.add();
    const path = netnsPath(a);
    const zero = "00:00:00:00:00:00";
    inNetns(path, () => {
      createVxlan("vx0", { vni: 42, port: 6784 });
      addFdb({ dev: "vx0", mac: "02:00:00:00:02:01", dst: "192.168.1.1" });
      appendFdb({ dev: "vx0", mac: zero, dst: "192.168.1.2" });
      appendFdb({ dev: "vx0", mac: zero, dst: "192.168.1.3" });
      addFdb({ dev: "vx0", mac: "02:00:00:00:02:02", dst: "192.168.1.4", vni: 43, port: 4789 });
    });
    const key = (e: { mac: string; dst?: string }) => `${e.mac}>${e.dst}`;
    let fdb = (await bridgeFdb(a, "dev", "vx0")) as unknown as (BridgeFdb & {
      vni?: number;
      port?: number;
    })[];
    const remotes = fdb.filter((e) => e.dst);
    assert.deepEqual(remotes.map(key).sort(), [
      `${zero}>192.168.1.2`,
      `${zero}>192.168.1.3`,
      "02:00:00:00:02:01>192.168.1.1",
      "02:00:00:00:02:02>192.168.1.4",
    ]);
    assert.ok(remotes.every((e) => e.flags.includes("self") && e.state === "permanent"));
    const special = remotes.find((e) => e.mac === "02:00:00:00:02:02");
    assert.deepEqual([special?.vni, special?.port], [43, 4789]);

    const ours = inNetns(path, () => listFdb("vx0"));
    assert.deepEqual(ours.filter((e) => e.dst).map(key).sort(), remotes.map(key).sort());
    assert.ok(ours.filter((e) => e.dst).every((e) => e.self && e.permanent));
    const ourSpecial = ours.find((e) => e.mac === "02:00:00:00:02:02");
    assert.deepEqual([ourSpecial?.vni, ourSpecial?.port], [43, 4789]);

    inNetns(path, () => {
      replaceFdb({ dev: "vx0", mac: "02:00:00:00:02:01", dst: "192.168.1.9" });
      deleteFdb({ dev: "vx0", mac: zero, dst: "192.168.1.2" });
      assert.throws(
        () => addFdb({ dev: "vx0", mac: "02:00:00:00:02:01", dst: "192.168.1.1" }),
        linuxError(
          "EEXIST",
          'add fdb entry 02:00:00:00:02:01 dst 192.168.1.1 on "vx0" failed: EEXIST (File exists)',
        ),
      );
      assert.throws(
        () => deleteFdb({ dev: "vx0", mac: "02:00:00:00:09:09", dst: "192.168.1.1" }),
        linuxError(
          "ENOENT",
          /^delete fdb entry 02:00:00:00:09:09 dst 192.168.1.1 on "vx0" failed: ENOENT/,
        ),
      );
    });
    fdb = (await bridgeFdb(a, "dev", "vx0")) as unknown as BridgeFdb[];
    assert.deepEqual(fdb.filter((e) => e.dst).map(key).sort(), [
      `${zero}>192.168.1.3`,
      "02:00:00:00:02:01>192.168.1.9",
      "02:00:00:00:02:02>192.168.1.4",
    ]);
  });
});
