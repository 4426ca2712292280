/** Reconnection delays: exponential from `baseMs`, capped, with jitter so peers do not stampede. */

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  /** Fraction of the delay that is randomised away (0.25: a delay lands in [0.75 d, d]). */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 2_000, capMs: 300_000, jitter: 0.25 };

/** The delay before retry number `attempt` (0 for the first retry). `random` returns [0, 1). */
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const exp = Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(Math.max(attempt, 0), 52));
  return Math.round(exp * (1 - opts.jitter * random()));
}
