/**
 * A received ring whose signature checks do not fit one slice (net/ipam/exchange.ts `defer`):
 * deterministic, with a scripted clock (1 ms per reading) and the deferred slices run by hand.
 * The rest of a message is merged in later slices without another message, its news broadcast
 * once at the end; forged states are checked once each, so a forged backlog drains too.
 */
import assert from "node:assert/strict";
import { Allocator } from "../../net/ipam/allocator.ts";
import { MAX_VERIFY_PER_MERGE } from "../../net/ipam/token.ts";
import { type BigRing, bigRing } from "./big_ring.ts";

function receiver(big: BigRing, sliced: boolean) {
  const self = big.names[7];
  const queue: Array<() => void> = [];
  const pauses: number[] = [];
  let t = 0, checks = 0, broadcasts = 0;
  const view = big.keyring.view(self);
  const a = new Allocator({
    self,
    range: big.range,
    init: { kind: "seed", members: big.names },
    persist: { saveMeta() {}, putAllocation() {}, deleteAllocations() {} },
    signer: {
      sign: view.sign,
      verify: (...args) => {
        checks++;
        return view.verify(...args);
      },
    },
    now: () => 0,
    random: () => 0.5,
    slicing: sliced
      ? {
        clock: () => t++,
        sliceBudgetMs: 10,
        defer: (fn, pauseMs) => {
          pauses.push(pauseMs);
          queue.push(fn);
        },
      }
      : undefined,
  });
  a.attach({ broadcast: () => void broadcasts++, unicast: () => true });
  return {
    a,
    queue,
    pauses,
    checks: () => checks,
    broadcasts: () => broadcasts,
    /** Runs deferred slices until none is left (bounded); returns how many ran. */
    drain(max = 10_000): number {
      let n = 0;
      for (; queue.length > 0 && n < max; n++) queue.shift()!();
      assert.equal(queue.length, 0, `still slices to run after ${max}`);
      return n;
    },
  };
}

Deno.test("slicing: a 300-peer ring is taken in by deferred slices of the time budget, broadcast once at the end", () => {
  const big = bigRing(300);
  const r = receiver(big, true);
  assert.notEqual(
    r.a.onGossip(big.names[1], big.bytes),
    null,
    "the first slice's news is passed on",
  );
  const first = r.checks();
  assert.ok(first >= 1 && first < 20, `the first slice checked ${first}: the budget did not bind`);
  assert.equal(r.queue.length, 1);
  const slices = r.drain();
  assert.equal(r.a.ring.entries().length, big.entries.length);
  assert.equal(r.checks(), 300, "every donation checked exactly once");
  assert.ok(slices >= 300 / 20, `${slices} slices`);
  assert.equal(r.broadcasts(), 1);
  assert.ok(r.pauses.every((p) => p >= 0 && p <= 50), `pauses ${r.pauses}`);
  // The same message again: nothing to check, nothing deferred.
  assert.equal(r.a.onGossip(big.names[1], big.bytes), null);
  assert.equal(r.queue.length, 0);
  assert.equal(r.checks(), 300);
});

Deno.test("slicing: a forged backlog drains, each state checked once and refused", () => {
  const big = bigRing(300, true);
  const r = receiver(big, true);
  assert.equal(r.a.onGossip(big.names[1], big.bytes), null, "nothing kept, nothing passed on");
  r.drain();
  assert.equal(r.checks(), 300, "a refused state is not checked again by the next slice");
  assert.equal(r.a.refused.get("bad-signature"), 300);
  assert.equal(r.a.ring.entries().length, 300, "only the initial split");
  assert.equal(r.broadcasts(), 0);
});

Deno.test("slicing: without deferral (the simulations) a message checks MAX_VERIFY_PER_MERGE and the rest waits for the next", () => {
  const big = bigRing(600);
  const r = receiver(big, false);
  r.a.onGossip(big.names[1], big.bytes);
  assert.equal(r.checks(), MAX_VERIFY_PER_MERGE);
  assert.equal(r.queue.length, 0);
  r.a.onGossip(big.names[1], big.bytes);
  r.a.onGossip(big.names[1], big.bytes);
  assert.equal(r.checks(), 600);
  assert.equal(r.a.ring.entries().length, big.entries.length);
});
