/**
 * kill -9 of a node's daemon in the middle of an ADD burst against that node, then a restart:
 * pods that got an address keep it, no address is handed out twice, failed ADDs leave nothing.
 */
import assert from "node:assert/strict";
import type { Pod } from "../../cli/demo/cluster.ts";
import { CniPluginError } from "../../cli/demo/cni_runtime.ts";
import { IS_ROOT } from "../harness/netns.ts";
import { pool, secondsSince, withCluster } from "./e2e.ts";

const BURST = 30;
const CONCURRENCY = 10;
/** The daemon dies once this many ADDs of the burst have succeeded. */
const KILL_AFTER = 8;

Deno.test({
  name: `e2e: kill -9 a daemon during ${BURST} ADDs (concurrency ${CONCURRENCY}); restart: ` +
    "addresses kept, none twice, failed ADDs leave nothing",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withCluster({ nodes: 2 }, async (c) => {
      const t0 = performance.now();
      const [n1, n2] = c.nodes;
      // Addresses held elsewhere in the cluster, which the restarted node must not hand out.
      const others = [await c.addPod(n1, "o1"), await c.addPod(n1, "o2")];

      let succeeded = 0;
      let killed: Promise<void> | undefined;
      const burst = await pool(BURST, CONCURRENCY, async (i) => {
        const pod = await c.addPod(n2, `b${i}`).catch((e) => {
          throw Object.assign(e as Error, { label: `b${i}` });
        });
        if (++succeeded === KILL_AFTER) killed = c.stopDaemon(n2, "SIGKILL");
        return pod;
      });
      await killed;
      const ok = burst.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
      const errors = burst.flatMap((r) => r.status === "rejected" ? [r.reason as Error] : []);
      const failed = c.pods.filter((p) => p.node === n2 && !ok.includes(p));
      console.log(
        `burst: ${ok.length} ADDs succeeded, ${errors.length} failed ` +
          `(${secondsSince(t0)} s); CNI error codes: ` +
          [...new Set(errors.map((e) => e instanceof CniPluginError ? e.code : e.message))].join(
            ", ",
          ),
      );
      assert.ok(ok.length >= KILL_AFTER, "the burst got going before the kill");
      assert.ok(errors.length > 0, "the kill happened during the burst");
      for (const e of errors) {
        assert.ok(e instanceof CniPluginError && e.code === 11, `ADD failed with error 11: ${e}`);
      }
      // A failed ADD cleans up on the host at once, daemon or no daemon.
      const vethOf = (p: Pod) =>
        (p.result as { interfaces: Array<{ name: string }> }).interfaces[1].name;
      assert.deepEqual(c.hostVeths(n2).sort(), ok.map(vethOf).sort(), "host veths = pods");

      await c.startDaemon(n2);
      await c.waitReady(n2, 60_000);
      console.log(`restarted and ready after ${secondsSince(t0)} s`);

      // Every pod that got an address keeps it: in the daemon, and on its interface.
      const held = await c.allocations(n2);
      const byId = new Map(held.map((a) => [a.id, a]));
      for (const p of ok) {
        const a = byId.get(p.containerId);
        assert.ok(a, `${p.name} (${p.ip}) lost its allocation`);
        assert.equal(a.ip.split("/")[0], p.ip, p.name);
        assert.equal(a.ifname, "eth0");
        assert.deepEqual(c.podAddresses(p), [a.ip], `${p.name}'s interface`);
      }
      // Allocations a failed ADD left (the daemon committed, then died before answering) are
      // what the runtime's DEL of the failed sandbox is for: do as containerd does.
      const orphans = held.filter((a) =>
        a.id !== "weave:expose" && !ok.some((p) => p.containerId === a.id)
      );
      console.log(`allocations of failed ADDs before the runtime's DEL: ${orphans.length}`);
      for (const p of failed) await c.deletePod(p);

      // More pods after the restart, on both nodes: still no address twice.
      const after = [await c.addPod(n2, "r1"), await c.addPod(n1, "r2")];
      const pods = [...others, ...ok, ...after];
      const all = [...await c.allocations(n1), ...await c.allocations(n2)];
      const ips = all.map((a) => a.ip);
      assert.equal(new Set(ips).size, ips.length, `an address handed out twice: ${ips}`);
      assert.equal(new Set(pods.map((p) => p.ip)).size, pods.length);
      // Nothing without a pod: the allocations are exactly the pods' (plus each bridge's).
      assert.deepEqual(
        all.filter((a) => a.id !== "weave:expose").map((a) => a.id).sort(),
        pods.map((p) => p.containerId).sort(),
        "allocations without a pod",
      );
      assert.deepEqual(
        c.hostVeths(n2).sort(),
        [...ok, after[0]].map(vethOf).sort(),
        "host veths without a pod",
      );
      // And the survivors still talk across nodes.
      const ping = await c.ping(ok[0], others[0].ip!);
      assert.ok(ping.ok, `pod on the restarted node reaches node 1: ${!ping.ok && ping.output}`);
      console.log(`done in ${secondsSince(t0)} s`);
    });
  },
});
