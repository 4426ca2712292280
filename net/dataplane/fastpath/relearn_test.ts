import assert from "node:assert/strict";
import { RelearnGuard, SETTLE_AFTER_MOVE_MS } from "./relearn.ts";
import { Logger } from "../../log.ts";
import type { Plan } from "../plan.ts";

/** A fake clock: timers run when `advance` passes their time. */
function fakeTimer() {
  let now = 0, next = 1;
  const due = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    timer: {
      set(fn: () => void, ms: number) {
        due.set(next, { at: now + ms, fn });
        return next++;
      },
      clear(id: unknown) {
        due.delete(id as number);
      },
    },
    advance(ms: number) {
      const end = now + ms;
      for (const [id, t] of [...due].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at > end || !due.delete(id)) continue;
        now = t.at;
        t.fn();
      }
      now = end;
    },
    pending: () => due.size,
  };
}

function setup() {
  const clock = fakeTimer();
  const passes: number[] = [];
  const lines: string[] = [];
  const log = new Logger({ sink: { write: (l) => lines.push(JSON.parse(l).msg) }, level: "debug" });
  const plan = { macOwners: new Map(), paths: [] } as unknown as Plan;
  let relearned = ["0a:00:00:00:00:02"];
  const guard = new RelearnGuard({
    names: { bridge: "weave", vxlan: "vxlan-6784", tap: "vethwe-tap" },
    log,
    plan: () => plan,
    forget: () => {
      passes.push(clock.now());
      const gone = relearned;
      relearned = [];
      return gone;
    },
    now: clock.now,
    timer: clock.timer,
  });
  return { clock, passes, lines, guard, relearn: (m: string[]) => relearned = m };
}

Deno.test("relearn guard: one pass per plan; after a move, passes in the next second", () => {
  const s = setup();
  s.guard.check(false);
  assert.deepEqual(s.passes, [0]);
  assert.equal(s.clock.pending(), 0, "no move: nothing scheduled");
  s.guard.check(true);
  s.clock.advance(1000);
  assert.deepEqual(s.passes, [0, 0, ...SETTLE_AFTER_MOVE_MS]);
  assert.ok(SETTLE_AFTER_MOVE_MS[0] <= 20, "the first look comes within a few echoes");
  assert.equal(s.guard.forgotten, 1);
});

Deno.test("relearn guard: stop cancels the pending passes; log lines are rate-limited", () => {
  const s = setup();
  s.guard.check(true);
  s.clock.advance(60);
  s.relearn(["0a:00:00:00:00:03"]);
  s.clock.advance(100);
  assert.equal(s.guard.forgotten, 2, "a MAC re-learned after the move is caught by a later pass");
  assert.equal(s.lines.length, 1, "one line per 10 s");
  s.guard.stop();
  const n = s.passes.length;
  s.clock.advance(5000);
  assert.equal(s.passes.length, n, "no pass after stop");
});
