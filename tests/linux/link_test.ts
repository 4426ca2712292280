/** Links: every operation checked against `ip -j -d link show` in throwaway namespaces. */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { ipJson, shTry } from "../harness/sh.ts";
import {
  createBridge,
  createDummy,
  createVeth,
  createVxlan,
  deleteLink,
  findLink,
  getLink,
  inNetns,
  listLinks,
  moveToNetns,
  renameLink,
  setGsoMaxSize,
  setHairpin,
  setLinkDown,
  setLinkUp,
  setMac,
  setMaster,
  setMtu,
  setNoMaster,
} from "../../net/linux/mod.ts";
import { ipLink, ipLinks, linuxError, netnsPath, PREFIX } from "./helpers.ts";

const ignore = !IS_ROOT;

Deno.test(
  { name: "veth pair with the peer created directly in another netns", ignore },
  async () => {
    await withNamespaces(PREFIX, async (ns) => {
      const host = ns.add("host");
      const pod = ns.add("pod");
      inNetns(netnsPath(host), () =>
        createVeth("vethwepl1", "eth0", {
          peerNetns: netnsPath(pod),
          mtu: 1376,
          mac: "02:00:00:00:00:01",
          peerMac: "02:00:00:00:00:02",
        }));
      const h = await ipLink(host, "vethwepl1");
      const p = await ipLink(pod, "eth0");
      assert.equal(h.linkinfo?.info_kind, "veth");
      assert.equal(p.linkinfo?.info_kind, "veth");
      assert.deepEqual([h.mtu, h.address], [1376, "02:00:00:00:00:01"]);
      assert.deepEqual([p.mtu, p.address], [1376, "02:00:00:00:00:02"]);
      assert.equal(h.link_index, p.ifindex, "each end points at the other");
      assert.equal(p.link_index, h.ifindex);
      // The peer is not in the host namespace.
      assert.deepEqual((await ipLinks(host)).map((l) => l.ifname).sort(), ["lo", "vethwepl1"]);

      const got = inNetns(netnsPath(host), () => getLink("vethwepl1"));
      assert.equal(got.index, h.ifindex);
      assert.equal(got.name, h.ifname);
      assert.equal(got.kind, "veth");
      assert.equal(got.mtu, h.mtu);
      assert.equal(got.mac, h.address);
      assert.equal(got.up, h.flags.includes("UP"));
      assert.equal(got.operState, h.operstate);
      assert.equal(got.peerIndex, p.ifindex);
      assert.equal(got.linkNetnsId, h.link_netnsid);
      assert.equal(got.gsoMaxSize, h.gso_max_size);
      assert.deepEqual(
        inNetns(netnsPath(host), () => getLink(h.ifindex)),
        got,
        "by index = by name",
      );
    });
  },
);

Deno.test({ name: "listLinks matches ip link show", ignore }, async () => {
  await withNamespaces(PREFIX, async (ns) => {
    const a = ns.add();
    const links = inNetns(netnsPath(a), () => {
      createVeth("v1", "v2", { mtu: 9000 });
      createBridge("br0", { mac: "02:aa:00:00:00:01" });
      setLinkUp("br0");
      return listLinks();
    });
    const ip = await ipLinks(a);
    assert.deepEqual(
      links.map((l) => ({
        index: l.index,
        name: l.name,
        mtu: l.mtu,
        mac: l.mac,
        up: l.up,
        kind: l.kind,
        oper: l.operState,
      })),
      ip.map((l) => ({
        index: l.ifindex,
        name: l.ifname,
        mtu: l.mtu,
        mac: l.address,
        up: l.flags.includes("UP"),
        kind: l.linkinfo?.info_kind,
        oper: l.operstate,
      })),
    );
  });
});

Deno.test({
  name: "bridge ports: up/down, mtu, mac, master/nomaster, hairpin, gso_max_size, rename",
  ignore,
}, async () => {
  await withNamespaces(PREFIX, async (ns) => {
    const a = ns.add();
    const run = <T>(fn: () => T) => inNetns(netnsPath(a), fn as () => never) as T;
    run(() => {
      createBridge("weave", { mtu: 1376 });
      createVeth("vp1", "vp2");
      setMaster("vp1", "weave");
      setLinkUp("weave");
      setLinkUp("vp1");
      setHairpin("vp1", true);
      setMtu("vp1", 1400);
      setMac("vp1", "02:11:22:33:44:55");
      setGsoMaxSize("vp1", 32768);
    });
    let vp1 = await ipLink(a, "vp1");
    assert.equal(vp1.master, "weave");
    assert.ok(vp1.flags.includes("UP"));
    assert.equal(vp1.mtu, 1400);
    assert.equal(vp1.address, "02:11:22:33:44:55");
    assert.equal(vp1.linkinfo?.info_slave_kind, "bridge");
    assert.equal(vp1.linkinfo?.info_slave_data?.hairpin, true);
    assert.equal(vp1.gso_max_size, 32768);
    assert.equal(run(() => getLink("vp1")).master, (await ipLink(a, "weave")).ifindex);

    run(() => {
      setHairpin("vp1", false);
    });
    assert.equal((await ipLink(a, "vp1")).linkinfo?.info_slave_data?.hairpin, false);
    run(() => {
      setNoMaster("vp1");
      setLinkDown("vp1");
      renameLink("vp1", "renamed1");
    });
    vp1 = await ipLink(a, "renamed1");
    assert.equal(vp1.master, undefined);
    assert.ok(!vp1.flags.includes("UP"));
    assert.equal(run(() => findLink("vp1")), undefined);
    run(() => setMaster("renamed1", "weave"));
    assert.equal((await ipLink(a, "renamed1")).master, "weave");
  });
});

Deno.test(
  { name: "vxlan: VNI, port, local address, underlay device, learning off", ignore },
  async () => {
    await withNamespaces(PREFIX, async (ns) => {
      const a = ns.add();
      inNetns(netnsPath(a), () => {
        createVeth("under0", "under1");
        createVxlan("vxlan-6784", {
          vni: 0xabcdef,
          port: 6784,
          local: "10.2.3.4",
          dev: "under0",
          mtu: 1410,
        });
        createVxlan("vx-learn", { vni: 7, port: 4789, learning: true, l2miss: true });
      });
      const vx = await ipLink(a, "vxlan-6784");
      assert.equal(vx.linkinfo?.info_kind, "vxlan");
      assert.equal(vx.mtu, 1410);
      const d = vx.linkinfo?.info_data ?? {};
      assert.equal(d.id, 0xabcdef);
      assert.equal(d.port, 6784);
      assert.equal(d.local, "10.2.3.4");
      assert.equal(d.link, "under0");
      assert.equal(d.learning, false);
      const l = (await ipLink(a, "vx-learn")).linkinfo?.info_data ?? {};
      assert.deepEqual([l.id, l.port, l.learning, l.l2miss], [7, 4789, true, true]);
      // What the kernel reports back, decoded by getLink, agrees with the oracle.
      const [mine, learn] = inNetns(
        netnsPath(a),
        () => [getLink("vxlan-6784"), getLink("vx-learn")],
      );
      assert.deepEqual(mine.vxlan, {
        vni: 0xabcdef,
        port: 6784,
        learning: false,
        local: "10.2.3.4",
      });
      assert.deepEqual(learn.vxlan, { vni: 7, port: 4789, learning: true });
    });
  },
);

Deno.test(
  { name: "dummy: created where the kernel has it, else a typed EOPNOTSUPP", ignore },
  async () => {
    await withNamespaces(PREFIX, async (ns) => {
      const a = ns.add();
      const kernelHasDummy =
        (await shTry("ip", ["-n", a, "link", "add", "probe0", "type", "dummy"]))
          .code === 0;
      if (kernelHasDummy) {
        inNetns(netnsPath(a), () => createDummy("dummy0", { mtu: 1300 }));
        const d = await ipLink(a, "dummy0");
        assert.deepEqual([d.linkinfo?.info_kind, d.mtu], ["dummy", 1300]);
      } else {
        assert.throws(
          () => inNetns(netnsPath(a), () => createDummy("dummy0")),
          linuxError(
            "EOPNOTSUPP",
            /^create dummy "dummy0" failed: EOPNOTSUPP \(Operation not supported: Unknown device type\)$/,
          ),
        );
      }
    });
  },
);

Deno.test(
  { name: "move a link to another netns; delete takes the veth peer with it", ignore },
  async () => {
    await withNamespaces(PREFIX, async (ns) => {
      const a = ns.add("a");
      const b = ns.add("b");
      inNetns(netnsPath(a), () => {
        createVeth("m1", "m2");
        moveToNetns("m2", netnsPath(b));
      });
      assert.deepEqual((await ipLinks(a)).map((l) => l.ifname), ["lo", "m1"]);
      assert.deepEqual((await ipLinks(b)).map((l) => l.ifname), ["lo", "m2"]);
      inNetns(netnsPath(a), () => deleteLink("m1"));
      assert.deepEqual((await ipLinks(b)).map((l) => l.ifname), ["lo"]);
      assert.deepEqual(
        (await ipJson<{ ifname: string }[]>(a, "link", "show")).map((l) => l.ifname),
        ["lo"],
      );
    });
  },
);
