import assert from "node:assert/strict";
import type { Outcome } from "./types.ts";
import { WaitingRequests } from "./waiting.ts";

Deno.test("waiting: a decided first attempt answers at once; others wait, retry and fail", async () => {
  const w = new WaitingRequests();
  const now: Outcome = { ok: false, status: 409, error: "no" };
  assert.deepEqual(await w.wait("allocate", () => now, 60_000), now);
  assert.deepEqual(w.counts(), { allocates: 0, claims: 0 });

  let decided = false;
  const a = w.wait(
    "allocate",
    (): Outcome => decided ? { ok: false, status: 409, error: "x" } : { ok: false, wait: "w" },
    60_000,
  );
  const c = w.wait("claim", () => ({ ok: false, wait: "still" }), 60_000);
  assert.deepEqual(w.counts(), { allocates: 1, claims: 1 });
  w.retry(); // nothing decided yet: both still wait (negative control)
  assert.deepEqual(w.counts(), { allocates: 1, claims: 1 });
  decided = true;
  w.retry();
  assert.deepEqual(await a, { ok: false, status: 409, error: "x" });
  assert.deepEqual(w.counts(), { allocates: 0, claims: 1 });
  w.failAll("stopping");
  assert.deepEqual(await c, { ok: false, wait: "stopping" });
  assert.deepEqual(w.counts(), { allocates: 0, claims: 0 });
});
