/**
 * The daemon serves the plugin's pod events on its node's CNI socket (cni/server.ts); without a
 * daemon the plugin does the same work itself. Both paths, on a real node with the real binary.
 */
import assert from "node:assert/strict";
import { CniError } from "../../cli/demo/cni_runtime.ts";
import { captureOneArp, HAS_TCPDUMP } from "../harness/capture.ts";
import { IS_ROOT } from "../harness/netns.ts";
import { WEAVETS_ONLY, withCluster } from "./e2e.ts";

/** The daemon's "pod event" log lines (JSON, debug level in the harness) for `command`. */
async function podEvents(logFile: string, command: string): Promise<Record<string, unknown>[]> {
  const lines = (await Deno.readTextFile(logFile)).split("\n");
  return lines.flatMap((l) => {
    try {
      const j = JSON.parse(l);
      return j.msg === "pod event" && j.command === command ? [j] : [];
    } catch {
      return [];
    }
  });
}

Deno.test({
  name: "e2e: the daemon serves ADD, DEL and STATUS for the plugin; killed, the plugin still " +
    "removes the interface itself and says try again later (11), and STATUS says 50",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // CNI 1.1.0, for STATUS.
    const conflist = { ...WEAVETS_ONLY, cniVersion: "1.1.0" };
    await withCluster({ nodes: 1, conflist }, async (c) => {
      const node = c.nodes[0];
      await c.cniStatus(node);
      const nodeNs = node.netns.slice(node.netns.lastIndexOf("/") + 1);
      const arp = HAS_TCPDUMP ? await captureOneArp(nodeNs, "weave") : undefined;
      const served = await c.addPod(node, "a");
      assert.ok(served.ip, "ADD gave an address");
      if (arp) {
        // The daemon sends it after answering: the pod's neighbours still learn the address.
        assert.match(await arp.done, new RegExp(`Request who-has ${served.ip} tell ${served.ip}`));
      }
      assert.deepEqual(c.podAddresses(served), [
        (served.result as { ips: Array<{ address: string }> }).ips[0].address,
      ]);
      const adds = await podEvents(node.logFile, "ADD");
      assert.equal(adds.length, 1, "the daemon served the ADD");
      assert.equal(adds[0].result, "ok");
      const status = await c.cli(node, ["status"]);
      assert.match(
        status.stdout,
        /Service: cni\n\s*Socket: \/run\/weavets\/cni\/net-\d+\.sock\n\s*Served: 2 pod events/,
        "STATUS and ADD",
      );

      const kept = await c.addPod(node, "b");
      await c.deletePod(served);
      assert.equal((await podEvents(node.logFile, "DEL")).length, 1, "the daemon served DEL");
      assert.equal(c.hostVeths(node).length, 1, "only the remaining pod's veth");

      // No daemon: DEL runs in the plugin, removes the interface, and asks for a retry of the
      // address release (the daemon holds it).
      await c.stopDaemon(node, "SIGKILL");
      await assert.rejects(
        () => c.deletePod(kept),
        (e) => e instanceof CniError && e.code === 11,
      );
      assert.deepEqual(c.hostVeths(node), [], "the interface is gone without the daemon");
      await assert.rejects(
        () => c.cniStatus(node),
        (e) => e instanceof CniError && e.code === 50,
        "no daemon: the network cannot take pods",
      );
    });
  },
});
