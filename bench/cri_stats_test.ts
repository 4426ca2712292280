import assert from "node:assert/strict";
import { phaseMedians, type Served, verdict } from "./cri_stats.ts";

Deno.test("phaseMedians: each phase's median over the ADDs, a phase an ADD lacks counts as 0", () => {
  const adds: Served[] = [
    { ms: 9, phases: { read: 1, ipam: 5 }, cpu: { read: 0.5, ipam: 1 } },
    { ms: 7, phases: { read: 3, ipam: 2 }, cpu: { read: 0.4, ipam: 0.9 } },
    { ms: 20, phases: { read: 2, ipam: 9, bridge: 4 }, cpu: { read: 0.6, ipam: 1.1 } },
  ];
  assert.equal(phaseMedians(adds), "read 2.0, ipam 5.0, bridge 0.0");
  assert.equal(phaseMedians(adds, "cpu"), "read 0.5, ipam 1.0");
  assert.equal(phaseMedians([]), "");
});

Deno.test("verdict: met only when the whole spread is under the goal, not met when all is over", () => {
  assert.equal(verdict({ lo: 0.9, hi: 1.19 }, 1.2), "met");
  assert.equal(verdict({ lo: 1.21, hi: 1.9 }, 1.2), "not met");
  assert.equal(verdict({ lo: 1.1, hi: 1.3 }, 1.2), "not distinguishable at this noise");
});
