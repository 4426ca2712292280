/**
 * The mesh's periodic work, as a pure schedule: anti-entropy (a full state to a few neighbours,
 * every `antiEntropyMs` jittered ±25 % so peers do not fall into step) and forgetting peers
 * unreachable for `forgetAfterMs` (checked every quarter of that, between 50 ms and 10 s). Time
 * and randomness are inputs; the router runs what is due and sleeps until `wakeAt`.
 */

export interface PeriodicTiming {
  antiEntropyMs: number;
  forgetAfterMs: number;
}

export interface Periodic {
  nextAntiEntropy: number;
  nextForget: number;
}

/** What to run now, and the schedule after it. */
export interface PeriodicDue {
  antiEntropy: boolean;
  forget: boolean;
  next: Periodic;
  /** The earliest of the next runs. */
  wakeAt: number;
}

/** `ms` ±25 %; `random` returns [0, 1). */
export function jittered(ms: number, random: () => number): number {
  return ms * (0.75 + random() * 0.5);
}

/** How often unreachable peers are looked for: a quarter of the grace, within 50 ms..10 s. */
export function forgetPeriod(forgetAfterMs: number): number {
  return Math.max(50, Math.min(forgetAfterMs / 4, 10_000));
}

export function startPeriodic(now: number, t: PeriodicTiming, random: () => number): Periodic {
  return {
    nextAntiEntropy: now + jittered(t.antiEntropyMs, random),
    nextForget: now + forgetPeriod(t.forgetAfterMs),
  };
}

export function periodicDue(
  s: Periodic,
  now: number,
  t: PeriodicTiming,
  random: () => number,
): PeriodicDue {
  const antiEntropy = now >= s.nextAntiEntropy;
  const forget = now >= s.nextForget;
  const next = {
    nextAntiEntropy: antiEntropy ? now + jittered(t.antiEntropyMs, random) : s.nextAntiEntropy,
    nextForget: forget ? now + forgetPeriod(t.forgetAfterMs) : s.nextForget,
  };
  return { antiEntropy, forget, next, wakeAt: Math.min(next.nextAntiEntropy, next.nextForget) };
}
