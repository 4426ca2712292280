import assert from "node:assert/strict";
import fc from "fast-check";
import { backoffDelay, DEFAULT_BACKOFF } from "./backoff.ts";

Deno.test("backoff: starts at 2 s, doubles, is capped, and jitter only shortens", () => {
  const noJitter = () => 0;
  assert.equal(backoffDelay(0, DEFAULT_BACKOFF, noJitter), 2_000);
  assert.equal(backoffDelay(1, DEFAULT_BACKOFF, noJitter), 4_000);
  assert.equal(backoffDelay(3, DEFAULT_BACKOFF, noJitter), 16_000);
  assert.equal(backoffDelay(100, DEFAULT_BACKOFF, noJitter), DEFAULT_BACKOFF.capMs);
  fc.assert(fc.property(fc.nat(200), fc.double({ min: 0, max: 0.999999, noNaN: true }), (n, r) => {
    const d = backoffDelay(n, DEFAULT_BACKOFF, () => r);
    const nominal = Math.min(DEFAULT_BACKOFF.capMs, 2_000 * 2 ** n);
    assert.ok(d <= nominal && d >= nominal * 0.75 - 1, `${n} ${r} ${d}`);
  }));
});

Deno.test("backoff: jitter spreads peers that failed together", () => {
  const delays = new Set(Array.from({ length: 20 }, () => backoffDelay(2)));
  assert.ok(delays.size > 10);
});
