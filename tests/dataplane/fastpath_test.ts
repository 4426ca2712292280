/**
 * Adopting the VXLAN device on restart: one that matches is left alone; one with another VNI,
 * port, local address or with learning on (it cannot be changed in place) is recreated.
 */
import assert from "node:assert/strict";
import { ensureVxlan } from "../../net/dataplane/fastpath/vxlan.ts";
import {
  createBridge,
  createVeth,
  createVxlan,
  getLink,
  inNetns,
  netnsPath,
  setLinkUp,
} from "../../net/linux/mod.ts";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";

Deno.test({
  name: "fast path: a VXLAN device with the wrong VNI/port/learning is recreated, a right one kept",
  ignore: !IS_ROOT,
  async fn() {
    await withNamespaces("wtd", (ns) => {
      const node = netnsPath(ns.add("node"));
      inNetns(node, () => {
        createBridge("weave");
        setLinkUp("weave");
        createVeth("eth0", "eth0p");
        createVxlan("vxlan-6784", { vni: 9, port: 4789, learning: true });
        const setup = { name: "vxlan-6784", port: 6784, vni: 1, bridge: "weave", mtu: 1450 };
        const changed = ensureVxlan(setup);
        assert.match(changed[0], /^recreated vxlan-6784 \(was vni 9 port 4789 local - learning\)/);
        const v = getLink("vxlan-6784");
        assert.deepEqual(v.vxlan, { vni: 1, port: 6784, learning: false });
        assert.equal(v.master, getLink("weave").index);
        assert.equal(v.mtu, 1450);
        assert.ok(v.up);
        // A device that is already right is adopted as it is.
        assert.deepEqual(ensureVxlan(setup), []);
        assert.equal(getLink("vxlan-6784").index, v.index);
      });
    });
  },
});
