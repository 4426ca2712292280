/**
 * ADD/DEL cycles at concurrency 20 against one node: afterwards no veth and no address is left.
 * 1,000 cycles take about 2 minutes on 2 cores (~115 ms each at concurrency 20), so CI runs them
 * all; WEAVETS_SOAK=1 runs a longer soak of 5,000.
 */
import assert from "node:assert/strict";
import { IS_ROOT } from "../harness/netns.ts";
import { pool, secondsSince, WEAVETS_ONLY, withCluster } from "./e2e.ts";

const SOAK = Deno.env.get("WEAVETS_SOAK") === "1";
const CYCLES = SOAK ? 5000 : 1000;
const CONCURRENCY = 20;
/** Cycles not started within this bound fail the test (bounded in time even on a slow box). */
const BUDGET_MS = SOAK ? 1_500_000 : 300_000;

Deno.test({
  name: `e2e: ${CYCLES} ADD/DEL cycles at concurrency ${CONCURRENCY} against one node leak ` +
    `no veth and no address${SOAK ? " (WEAVETS_SOAK=1)" : " (WEAVETS_SOAK=1 runs 5,000)"}`,
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    console.log(
      `running ${CYCLES} ADD/DEL cycles` +
        (SOAK ? " (WEAVETS_SOAK=1)" : "; WEAVETS_SOAK=1 runs 5,000"),
    );
    // The weavets plugin alone: this measures weavets, not the chained portmap's iptables.
    await withCluster({ nodes: 2, conflist: WEAVETS_ONLY }, async (c) => {
      const node = c.nodes[1];
      // The daemon allocates its bridge's address ("weave:expose") on its own, at some point.
      const podAllocations = async () =>
        (await c.allocations(node)).filter((a) => a.id !== "weave:expose");
      assert.deepEqual(await podAllocations(), []);
      const t0 = performance.now();
      const results = await pool(CYCLES, CONCURRENCY, async (i) => {
        if (performance.now() - t0 > BUDGET_MS) {
          throw new Error(`not started within ${BUDGET_MS} ms`);
        }
        const pod = await c.addPod(node, `s${i}`);
        assert.deepEqual(c.podAddresses(pod), [
          (pod.result as { ips: Array<{ address: string }> }).ips[0].address,
        ]);
        await c.deletePod(pod);
      });
      const elapsed = (performance.now() - t0) / 1000;
      const failures = results.flatMap((r) => r.status === "rejected" ? [String(r.reason)] : []);
      console.log(
        `${CYCLES} cycles in ${elapsed.toFixed(1)} s (${(elapsed / CYCLES * 1000).toFixed(0)} ms ` +
          `per cycle wall, concurrency ${CONCURRENCY}); ${failures.length} failed`,
      );
      assert.deepEqual(failures.slice(0, 5), [], `${failures.length} cycles failed`);

      // Pods that failed half-way would still be listed: every one was deleted.
      assert.deepEqual(c.pods.filter((p) => p.node === node).map((p) => p.name), []);
      assert.deepEqual(c.hostVeths(node), [], "leaked host veths");
      assert.deepEqual(await podAllocations(), [], "leaked addresses (GET /ip)");
      const all = await c.allocations(node);
      assert.equal(all.length, 1, "the bridge's address only");
      assert.equal((await c.ipamStatus(node)).allocated, 1, "leaked addresses (status ipam)");
      console.log(
        `leaks: 0 veths, 0 addresses (1 allocation left: the bridge's ${all[0].ip}); ` +
          `checked after ${secondsSince(t0)} s`,
      );
    });
  },
});
