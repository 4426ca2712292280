import assert from "node:assert/strict";
import { OTHER_SOURCES, RefusalLog } from "./refusals.ts";

Deno.test("refusals: one summary per source and interval, the first at once, counts kept between", () => {
  const log = new RefusalLog(10_000, 3);
  for (let i = 0; i < 1000; i++) log.note("198.18.0.99:6783", "unknown_sender");
  log.note("198.18.0.99:6783", "malformed");
  assert.deepEqual(log.due(0), [
    { source: "198.18.0.99:6783", reasons: { unknown_sender: 1000, malformed: 1 } },
  ]);
  for (let i = 0; i < 500; i++) log.note("198.18.0.99:6783", "malformed");
  assert.deepEqual(log.due(5000), [], "within the interval: held back, still counted");
  assert.deepEqual(log.due(10_000), [{ source: "198.18.0.99:6783", reasons: { malformed: 500 } }]);
  assert.deepEqual(log.due(20_000), [], "quiet for an interval: forgotten");
  log.note("198.18.0.99:6783", "auth");
  assert.deepEqual(log.due(20_001), [{ source: "198.18.0.99:6783", reasons: { auth: 1 } }]);
});

Deno.test("refusals: bounded whatever the number of sources", () => {
  const log = new RefusalLog(10_000, 3);
  for (let i = 0; i < 10_000; i++) log.note(`10.0.${i >> 8}.${i & 255}:1`, "malformed");
  const out = log.due(0);
  assert.equal(out.length, 4);
  assert.deepEqual(out.at(-1), { source: OTHER_SOURCES, reasons: { malformed: 10_000 - 3 } });
});
