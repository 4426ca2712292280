/**
 * Rate limit for what a Worker reports about refused input: counts per source and reason, and
 * lets each source's summary out at most once per interval (the first one at once), so a flood of
 * forged datagrams costs counters and a few log lines, never a log line per datagram. Bounded:
 * past `maxSources` distinct sources, new ones are counted together under "other". Pure.
 */
/** Where refused input came from: a name, or a number the caller formats (receive.ts Source). */
export type RefusalSource = string | number;

export interface RefusalSummary {
  source: RefusalSource;
  reasons: Record<string, number>;
}

interface Entry {
  /** When a summary of it last went out (-Infinity: never). */
  reported: number;
  reasons: Map<string, number>;
}

export const OTHER_SOURCES = "other";

export class RefusalLog {
  readonly #sources = new Map<RefusalSource, Entry>();
  #waiting = false;

  constructor(readonly intervalMs = 10_000, readonly maxSources = 256) {}

  note(source: RefusalSource, reason: string): void {
    let e = this.#sources.get(source);
    if (!e) {
      // Full: counted under "other" (the one entry past the bound).
      if (this.#sources.size >= this.maxSources) e = this.#sources.get(OTHER_SOURCES);
      if (!e) {
        e = { reported: -Infinity, reasons: new Map() };
        this.#sources.set(this.#sources.size >= this.maxSources ? OTHER_SOURCES : source, e);
      }
    }
    e.reasons.set(reason, (e.reasons.get(reason) ?? 0) + 1);
    this.#waiting = true;
  }

  /** The summaries due at `now`; sources quiet for a whole interval are forgotten. */
  due(now: number): RefusalSummary[] {
    if (!this.#waiting) return [];
    const out: RefusalSummary[] = [];
    let waiting = false;
    for (const [source, e] of this.#sources) {
      if (now - e.reported < this.intervalMs) {
        waiting ||= e.reasons.size > 0;
        continue;
      }
      if (e.reasons.size === 0) {
        this.#sources.delete(source);
        continue;
      }
      out.push({ source, reasons: Object.fromEntries(e.reasons) });
      e.reasons.clear();
      e.reported = now;
      waiting = true; // forget it after a quiet interval
    }
    this.#waiting = waiting;
    return out;
  }
}
