/**
 * Refused ring token states, counted between log lines: at most one line per interval, so a forger
 * repeating itself costs counters, not a log line each. Pure: time comes in.
 */
export class RefusalTally {
  #since: Record<string, number> = {};
  #loggedAt = -Infinity;

  constructor(readonly intervalMs = 60_000) {}

  /** Adds `r`; returns what to log now (every count since the last line), or null. */
  add(r: Partial<Record<string, number>>, now: number): Record<string, number> | null {
    for (const [k, n] of Object.entries(r)) this.#since[k] = (this.#since[k] ?? 0) + (n ?? 0);
    if (now - this.#loggedAt < this.intervalMs) return null;
    this.#loggedAt = now;
    const out = this.#since;
    this.#since = {};
    return out;
  }
}
