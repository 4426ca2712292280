import assert from "node:assert/strict";
import { CARRIER_POLL_MAX_MS, carrierPollDelay } from "./pod.ts";

Deno.test("carrierPollDelay: quick looks first, then at most every CARRIER_POLL_MAX_MS", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 50].map(carrierPollDelay), [1, 2, 4, 8, 10, 10, 10]);
  // Over the whole 1 s wait: about a hundred looks, not five hundred (the old fixed 2 ms).
  let t = 0, looks = 0;
  while (t < 1000) t += carrierPollDelay(looks++);
  assert.ok(looks < 110, `${looks} looks`);
  assert.equal(CARRIER_POLL_MAX_MS, 10);
});
