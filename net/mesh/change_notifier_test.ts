import assert from "node:assert/strict";
import { ChangeNotifier, notifyAt } from "./change_notifier.ts";

Deno.test("change notifier: when a change is told", () => {
  assert.equal(notifyAt(500, null, 100), 500, "never told before: at once");
  assert.equal(notifyAt(500, 450, 100), 550, "told 50 ms ago: when the interval is over");
  assert.equal(notifyAt(500, 300, 100), 500, "told long ago: at once");
});

/** A fake clock and timer: `run(ms)` moves time and fires what is due. */
function fake() {
  let now = 0;
  const timers: Array<{ at: number; fn: () => void; id: number }> = [];
  let ids = 0;
  return {
    now: () => now,
    setTimer: (fn: () => void, ms: number) => {
      timers.push({ at: now + ms, fn, id: ++ids });
      return ids;
    },
    clearTimer: (h: unknown) => {
      const i = timers.findIndex((t) => t.id === h);
      if (i >= 0) timers.splice(i, 1);
    },
    run(ms: number) {
      const end = now + ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        if (timers.length === 0 || timers[0].at > end) break;
        const t = timers.shift()!;
        now = t.at;
        t.fn();
      }
      now = end;
    },
    get pending() {
      return timers.length;
    },
  };
}

Deno.test("change notifier: a burst of changes is told once per interval, never inside the change", () => {
  const clock = fake();
  const errors: unknown[] = [];
  const n = new ChangeNotifier({ minIntervalMs: 100, ...clock, onError: (e) => errors.push(e) });
  const told: number[] = [];
  n.subscribe(() => told.push(clock.now()));
  n.changed();
  assert.deepEqual(told, [], "not inside the change");
  clock.run(0);
  assert.deepEqual(told, [0], "a lone change: the next turn");
  // 50 changes, one every 10 ms (a full state verified in slices).
  for (let i = 0; i < 50; i++) {
    clock.run(10);
    n.changed();
  }
  clock.run(200);
  assert.deepEqual(told, [0, 100, 200, 300, 400, 500, 600], "once per 100 ms, the last change too");
  assert.equal(clock.pending, 0);
  // Negative control: with no interval, every change of the burst is told.
  const m = new ChangeNotifier({ minIntervalMs: 0, ...clock, onError: () => {} });
  let count = 0;
  m.subscribe(() => count++);
  for (let i = 0; i < 50; i++) {
    m.changed();
    clock.run(10);
  }
  assert.equal(count, 50);
});

Deno.test("change notifier: a failing subscriber is reported and the others are told; stop ends it", () => {
  const clock = fake();
  const errors: unknown[] = [];
  const n = new ChangeNotifier({ minIntervalMs: 100, ...clock, onError: (e) => errors.push(e) });
  let told = 0;
  n.subscribe(() => {
    throw new Error("boom");
  });
  const off = n.subscribe(() => told++);
  n.changed();
  clock.run(0);
  assert.equal(told, 1);
  assert.equal((errors[0] as Error).message, "boom");
  off();
  n.changed();
  clock.run(100);
  assert.equal(told, 1, "unsubscribed");
  n.changed();
  n.stop();
  assert.equal(clock.pending, 0, "stop clears the timer");
  n.changed();
  assert.equal(clock.pending, 0, "nothing after stop");
});
