import assert from "node:assert/strict";
import { RefusalTally } from "./refusal_tally.ts";

Deno.test("refusal tally: the first refusal is logged at once, the next ones once per interval with their sum", () => {
  const t = new RefusalTally(60_000);
  assert.deepEqual(t.add({ "bad-signature": 2 }, 1000), { "bad-signature": 2 });
  assert.equal(t.add({ "bad-signature": 1 }, 2000), null);
  assert.equal(t.add({ "not-owner": 4 }, 60_999), null);
  // Negative control: the counts held back are not lost, they come with the next line.
  assert.deepEqual(t.add({ "bad-signature": 1 }, 61_000), { "bad-signature": 2, "not-owner": 4 });
  assert.equal(t.add({ "bad-signature": 1 }, 61_001), null);
});
