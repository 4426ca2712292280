import assert from "node:assert/strict";
import { ANTI_ENTROPY_FANOUT, DEFAULT_MESH_TIMING } from "../router.ts";
import { simulateJoin } from "./gossip_sim.ts";

Deno.test("gossip sim: a join reaches all 300 peers within 2 s simulated, every entry verified, one message per peer per update", () => {
  const r = simulateJoin(300, 3, {
    antiEntropyFanout: ANTI_ENTROPY_FANOUT,
    antiEntropyMs: DEFAULT_MESH_TIMING.antiEntropyMs,
  });
  assert.ok(r.knownAllMs < 2_000, `known after ${r.knownAllMs} ms`);
  assert.ok(r.routableAllMs < 2_000, `routable after ${r.routableAllMs} ms`);
  // Two spanning-tree broadcasts (the newcomer's entry, its neighbour's new entry) plus two full
  // states: no flooding.
  assert.ok(r.messages <= 2 * 301 + 2, `${r.messages} messages`);
  assert.equal(r.dropped, 0);
  // Each peer verifies the two new entries once; the newcomer verifies the whole topology.
  assert.ok(r.verifications >= 2 * 299 + 300, `${r.verifications} verifications`);
  assert.ok(r.verifications <= 2 * 301 + 301, `${r.verifications} verifications`);
  assert.ok(r.maxVerificationsOneTask <= 128, `${r.maxVerificationsOneTask} in one task`);
});
