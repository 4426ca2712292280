import assert from "node:assert/strict";
import { simulateJoin } from "../../bench/gossip_sim.ts";

Deno.test("gossip sim: a join reaches all 300 peers within 2 s simulated, one message per peer per update", () => {
  const r = simulateJoin(300, 3);
  assert.ok(r.knownAllMs < 2_000, `known after ${r.knownAllMs} ms`);
  assert.ok(r.routableAllMs < 2_000, `routable after ${r.routableAllMs} ms`);
  // Two spanning-tree broadcasts (the newcomer's entry, its neighbour's new entry) plus two full
  // states: no flooding.
  assert.ok(r.messages <= 2 * 301 + 2, `${r.messages} messages`);
});
