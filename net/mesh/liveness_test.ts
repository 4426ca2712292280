import assert from "node:assert/strict";
import { livenessDue, livenessTickMs, MIN_FRAME_RATE, partialSinceAfter } from "./liveness.ts";

const T = { heartbeatMs: 2_000, deadMs: 6_000 };
const idle = (at: number) => ({
  lastReceived: at,
  lastSent: at,
  partialSince: null,
  pendingLength: 0,
});

Deno.test("liveness: a heartbeat when nothing was sent for heartbeatMs; dead after deadMs of silence", () => {
  assert.equal(livenessTickMs(T), 2_000 / 3);
  assert.equal(livenessTickMs({ heartbeatMs: 60, deadMs: 90 }), 50, "at least 50 ms");
  assert.deepEqual(livenessDue(idle(0), 1_999, T), { kind: "none" });
  assert.deepEqual(livenessDue(idle(0), 2_000, T), { kind: "heartbeat" });
  // Sending keeps us from sending heartbeats, not from declaring the peer dead.
  const s = { ...idle(0), lastSent: 5_900 };
  assert.deepEqual(livenessDue(s, 6_000, T), { kind: "none" }, "6 s of silence: not yet");
  const dead = livenessDue(s, 6_001, T);
  assert.equal(dead.kind, "close");
  assert.match((dead as { reason: string }).reason, /no message for 6000 ms: connection dead/);
  // With the timer's period, a dead peer is noticed within deadMs + one tick.
  let now = 0;
  while (livenessDue({ ...idle(0), lastSent: now }, now, T).kind !== "close") {
    now += livenessTickMs(T);
  }
  assert.ok(now > T.deadMs && now <= T.deadMs + livenessTickMs(T), `noticed at ${now} ms`);
});

Deno.test("liveness: a frame trickled in a byte at a time is closed at its deadline", () => {
  // 1 MiB announced: deadMs plus one second at MIN_FRAME_RATE.
  const len = MIN_FRAME_RATE;
  let since: number | null = null;
  let closedAt: number | null = null;
  for (let now = 0; now < 20_000 && closedAt === null; now += 100) {
    // A byte every 100 ms: the connection is not silent, and no frame completes.
    since = partialSinceAfter(since, now, true, 0);
    const due = livenessDue(
      { lastReceived: now, lastSent: now, partialSince: since, pendingLength: len },
      now,
      T,
    );
    if (due.kind === "close") {
      assert.equal(due.refusal, "frame-timeout");
      closedAt = now;
    }
  }
  assert.equal(closedAt, 7_100, "deadMs + 1 s for 1 MiB, at the first look past it");
  // Negative control: frames that complete restart the clock, so a steady stream is never closed.
  since = null;
  for (let now = 0; now < 20_000; now += 100) {
    since = partialSinceAfter(since, now, true, 1);
    const due = livenessDue(
      { lastReceived: now, lastSent: now, partialSince: since, pendingLength: len },
      now,
      T,
    );
    assert.notEqual(due.kind, "close");
  }
  assert.equal(partialSinceAfter(5, 10, false, 0), null, "nothing pending: no deadline");
});
