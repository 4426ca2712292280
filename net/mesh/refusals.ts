/**
 * What a refused connection costs: a counter by kind (weavets_connection_refusals_total) and a
 * log line at most once per source address, kind and interval, which says how many were
 * suppressed since the last one. A flood of refusals never floods the log.
 */
import type { Logger } from "../log.ts";
import type { RefusalKind } from "./admission.ts";
import { LogLimiter } from "./log_limit.ts";

/** At most one log line per source address, kind and this interval. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

export class Refusals {
  readonly counts = new Map<RefusalKind, number>();
  readonly #limiter = new LogLimiter(REFUSAL_LOG_INTERVAL_MS);
  constructor(readonly log: Logger, readonly now: () => number = Date.now) {}

  record(
    kind: RefusalKind,
    reason: string,
    source: string,
    fields: Record<string, unknown>,
    now = this.now(),
  ): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    const l = this.#limiter.allow(`${source} ${kind}`, now);
    if (!l.log) return;
    this.log.warn("connection refused", {
      ...fields,
      kind,
      reason,
      ...(l.suppressed ? { suppressed: l.suppressed } : {}),
    });
  }
}

/** What the mesh counts for its metrics. */
export interface MeshCounters {
  terminations: number;
  /** Connections refused or closed for a protection, by kind. */
  refusals: Map<RefusalKind, number>;
}
