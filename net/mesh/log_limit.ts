/**
 * Rate limits for log lines keyed by a source (an address): a flood of refused connections
 * costs a counter and at most one line per source and interval, never a log the size of the
 * flood. Pure: the caller passes `now`.
 */
export class LogLimiter {
  readonly #last = new Map<string, { at: number; suppressed: number }>();
  constructor(readonly intervalMs: number, readonly maxKeys = 1024) {}

  /**
   * Whether to log for `key` now; when yes, how many lines were suppressed for it since the last
   * one (to put in that line).
   */
  allow(key: string, now: number): { log: true; suppressed: number } | { log: false } {
    const e = this.#last.get(key);
    if (e && now - e.at < this.intervalMs) {
      e.suppressed++;
      return { log: false };
    }
    if (!e && this.#last.size >= this.maxKeys) {
      // Forget the oldest source (Map keeps insertion order): bounded whatever the flood.
      this.#last.delete(this.#last.keys().next().value!);
    }
    this.#last.delete(key);
    this.#last.set(key, { at: now, suppressed: 0 });
    return { log: true, suppressed: e?.suppressed ?? 0 };
  }
}
