/**
 * A node's daemon restarted with a smaller MTU: the pods already attached get it on both ends of
 * their veth, so nothing they send exceeds the fast path's MTU and is dropped without a word.
 */
import assert from "node:assert/strict";
import { getLink, inNetns } from "../../net/linux/mod.ts";
import { IS_ROOT } from "../harness/netns.ts";
import { WEAVETS_ONLY, withCluster } from "./e2e.ts";

Deno.test({
  name: "e2e: a daemon restarted with a smaller --mtu lowers its pods' MTU to match",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withCluster({ nodes: 1, conflist: WEAVETS_ONLY }, async (c) => {
      const node = c.nodes[0];
      const pod = await c.addPod(node, "a");
      const mtuBefore = inNetns(pod.netns, () => getLink("eth0").mtu);
      const lower = mtuBefore - 100;
      await c.stopDaemon(node, "SIGTERM");
      c.startDaemon(node, ["--mtu", String(lower)]);
      await c.waitReady(node, 30_000);
      assert.equal(inNetns(node.netns, () => getLink("weave").mtu), lower, "the bridge");
      assert.equal(inNetns(pod.netns, () => getLink("eth0").mtu), lower, "the pod's end");
      const [veth] = c.hostVeths(node);
      assert.equal(inNetns(node.netns, () => getLink(veth).mtu), lower, "the host end");
      const log = await Deno.readTextFile(node.logFile);
      assert.match(log, new RegExp(`${veth} and its pod's end: mtu ${mtuBefore} -> ${lower}`));
    });
  },
});
