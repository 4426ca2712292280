/**
 * Lowering pods' MTU from the node's side: a veth peer's namespace found by its id (net/linux
 * nsid.ts), and the bridge's clamp of pod ports (net/dataplane/node/bridge.ts), checked with `ip -j`.
 */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { clampPorts } from "../../net/dataplane/node/bridge.ts";
import {
  createBridge,
  createVeth,
  getLink,
  inNetns,
  netnsIdOf,
  netnsPathsById,
  setMaster,
  setMtu,
} from "../../net/linux/mod.ts";
import { ipLink, netnsPath, PREFIX } from "./helpers.ts";

const ignore = !IS_ROOT;

Deno.test(
  {
    name: "bridge: pod ports above a lowered bridge MTU get it on both ends; others are left",
    ignore,
  },
  async () => {
    await withNamespaces(PREFIX, async (ns) => {
      const node = ns.add("node");
      const podA = ns.add("pa");
      const podB = ns.add("pb");
      const changed = inNetns(netnsPath(node), () => {
        createBridge("br0", { mtu: 1400 });
        createVeth("vethA", "eth0", { peerNetns: netnsPath(podA), mtu: 1450 });
        createVeth("vethB", "eth0", { peerNetns: netnsPath(podB), mtu: 1400 });
        setMaster("vethA", "br0");
        setMaster("vethB", "br0");
        // Pinned below vethA's, as after the daemon was restarted with a smaller --mtu.
        setMtu("br0", 1400);
        return clampPorts(getLink("br0").index, 1400);
      });
      assert.deepEqual(changed, ["vethA and its pod's end: mtu 1450 -> 1400"]);
      assert.equal((await ipLink(node, "vethA")).mtu, 1400);
      assert.equal((await ipLink(podA, "eth0")).mtu, 1400, "the pod's own end too");
      assert.equal((await ipLink(podB, "eth0")).mtu, 1400);
      const again = inNetns(netnsPath(node), () => clampPorts(getLink("br0").index, 1400));
      assert.deepEqual(again, [], "nothing to do the second time");
    });
  },
);

Deno.test({ name: "nsid: a veth peer's namespace id leads back to its path", ignore }, async () => {
  await withNamespaces(PREFIX, (ns) => {
    const node = ns.add("node");
    const pod = ns.add("pod");
    const other = ns.add("other");
    inNetns(netnsPath(node), () => {
      createVeth("vethP", "eth0", { peerNetns: netnsPath(pod) });
      const id = getLink("vethP").linkNetnsId;
      assert.ok(id !== undefined);
      assert.equal(netnsIdOf(netnsPath(pod)), id);
      const found = netnsPathsById().get(id);
      assert.ok(found);
      assert.equal(Deno.statSync(found).ino, Deno.statSync(netnsPath(pod)).ino);
      // A namespace this one never referred to has no id (and asking does not assign one).
      assert.equal(netnsIdOf(netnsPath(other)), undefined);
      assert.equal(netnsIdOf(netnsPath(other)), undefined);
    });
  });
});
