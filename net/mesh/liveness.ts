/**
 * When a control connection is dead, too slow, or due a heartbeat: pure decisions over the times
 * the connection records (connection.ts keeps them and runs `livenessDue` on a timer every
 * `livenessTickMs`). Tested on a fake clock in liveness_test.ts.
 */
import type { RefusalKind } from "./admission.ts";

export interface LivenessTiming {
  /** Send a heartbeat when nothing was sent for this long. */
  heartbeatMs: number;
  /** Close when nothing was received for this long. */
  deadMs: number;
}

/** An incomplete frame must arrive within deadMs plus its length at this rate (bytes/s). */
export const MIN_FRAME_RATE = 1024 * 1024;

export interface LivenessState {
  lastReceived: number;
  lastSent: number;
  /** Since when an incomplete frame has been waiting (null: none is). */
  partialSince: number | null;
  /** The length the incomplete frame announced. */
  pendingLength: number;
}

export type LivenessAction =
  | { kind: "close"; reason: string; refusal?: RefusalKind }
  | { kind: "heartbeat" }
  | { kind: "none" };

/** How often the connection's timer runs: a third of the shorter period, 50 ms at least. */
export function livenessTickMs(t: LivenessTiming): number {
  return Math.max(50, Math.min(t.heartbeatMs, t.deadMs) / 3);
}

export function livenessDue(s: LivenessState, now: number, t: LivenessTiming): LivenessAction {
  if (now - s.lastReceived > t.deadMs) {
    return { kind: "close", reason: `no message for ${t.deadMs} ms: connection dead` };
  }
  if (
    s.partialSince !== null &&
    now - s.partialSince > t.deadMs + (s.pendingLength / MIN_FRAME_RATE) * 1000
  ) {
    return {
      kind: "close",
      reason: `a frame of ${s.pendingLength} bytes did not complete in time`,
      refusal: "frame-timeout",
    };
  }
  return now - s.lastSent >= t.heartbeatMs ? { kind: "heartbeat" } : { kind: "none" };
}

/**
 * Since when an incomplete frame has been waiting, after bytes arrived at `now`: none when no
 * frame is incomplete; `now` when a frame completed (the next one starts) or none was waiting;
 * else unchanged, so a frame trickled in a byte at a time still meets its deadline.
 */
export function partialSinceAfter(
  previous: number | null,
  now: number,
  pending: boolean,
  completedFrames: number,
): number | null {
  if (!pending) return null;
  return completedFrames > 0 || previous === null ? now : previous;
}
