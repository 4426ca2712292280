import assert from "node:assert/strict";
import { LogLimiter } from "./log_limit.ts";

Deno.test("log limit: one line per source and interval, with the count of those suppressed", () => {
  const l = new LogLimiter(10_000, 2);
  assert.deepEqual(l.allow("a", 0), { log: true, suppressed: 0 });
  for (let i = 1; i <= 5; i++) assert.deepEqual(l.allow("a", i * 1000), { log: false });
  assert.deepEqual(l.allow("b", 0), { log: true, suppressed: 0 }, "per source");
  assert.deepEqual(l.allow("a", 10_000), { log: true, suppressed: 5 });
  assert.deepEqual(l.allow("a", 10_001), { log: false });
  // A third source evicts the oldest: bounded memory.
  assert.deepEqual(l.allow("c", 10_002), { log: true, suppressed: 0 });
  assert.deepEqual(l.allow("b", 10_003), { log: true, suppressed: 0 }, "b was forgotten");
});
