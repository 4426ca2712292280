import assert from "node:assert/strict";
import { medianInterval } from "./stats.ts";

Deno.test("medianInterval: order statistics with their binomial coverage", () => {
  assert.deepEqual(medianInterval([3, 1, 2]), { lo: 1, hi: 3, coverage: 0.75 });
  const five = medianInterval([5, 1, 4, 2, 3]);
  assert.deepEqual([five.lo, five.hi], [1, 5]);
  assert.equal(five.coverage, 1 - 2 / 32); // 93.75 %
  // 9 rounds: (2nd, 8th) covers 1 - 2·(1 + 9)/512 = 96.1 %; (3rd, 7th) only 82 %.
  const nine = medianInterval([9, 8, 7, 6, 5, 4, 3, 2, 1]);
  assert.deepEqual([nine.lo, nine.hi], [2, 8]);
  assert.ok(Math.abs(nine.coverage - (1 - 20 / 512)) < 1e-12);
});
