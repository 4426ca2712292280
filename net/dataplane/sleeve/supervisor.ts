/**
 * When a userspace-path Worker that died is started again, and what readiness says meanwhile.
 * Pure: the caller passes the clock. sleeve.ts does the I/O (Workers, timers, logs).
 *
 * A Worker that ran for `stableMs` before it died is restarted at once; one that dies sooner
 * (a crash loop) waits `baseMs`, doubling up to `maxMs`, so a fault that kills every new Worker
 * costs a log line and a restart now and then, not a busy loop. A Worker that stops writing its
 * heartbeat for `stallMs` (stuck in a loop or a system call) counts as dead.
 */
import type { WorkerRole } from "./messages.ts";

export interface RestartTiming {
  baseMs: number;
  maxMs: number;
  stableMs: number;
  stallMs: number;
  /** A new Worker that has not reported ready within this long counts as dead. */
  startMs: number;
}

export const DEFAULT_RESTART: RestartTiming = {
  baseMs: 100,
  maxMs: 5000,
  stableMs: 10_000,
  stallMs: 10_000,
  startMs: 30_000,
};

export type WorkerState = "starting" | "running" | "dead";

/** One role's Worker as the supervisor sees it. */
export class WorkerLife {
  state: WorkerState = "starting";
  /** When it was started (the current one). */
  startedAt: number;
  /** Restarts after a death, since the path started. */
  restarts = 0;
  /** Why the last one died. */
  lastDeath: string | undefined;
  #quickDeaths = 0;

  constructor(readonly role: WorkerRole, readonly timing: RestartTiming, now: number) {
    this.startedAt = now;
  }

  ready(): void {
    this.state = "running";
  }

  /** It died at `now` for `why`: returns how long to wait before starting the next one. */
  died(why: string, now: number): number {
    this.state = "dead";
    this.lastDeath = why;
    if (now - this.startedAt >= this.timing.stableMs) this.#quickDeaths = 0;
    const n = this.#quickDeaths++;
    return n === 0 ? 0 : Math.min(this.timing.maxMs, this.timing.baseMs * 2 ** (n - 1));
  }

  /** A new Worker is started at `now`. */
  restarted(now: number): void {
    this.state = "starting";
    this.startedAt = now;
    this.restarts++;
  }

  /** Why it counts as dead now though no error came (no heartbeat, never ready), or null. */
  overdue(lastBeat: number, now: number): string | null {
    if (this.state === "running") {
      const quiet = now - Math.max(lastBeat, this.startedAt);
      return quiet > this.timing.stallMs ? `no heartbeat for ${Math.round(quiet / 1000)} s` : null;
    }
    if (this.state === "starting" && now - this.startedAt > this.timing.startMs) {
      return `not ready ${Math.round((now - this.startedAt) / 1000)} s after its start`;
    }
    return null;
  }
}

/** Readiness of the userspace path: null when every Worker runs, else why not. */
export function sleeveHealth(lives: readonly WorkerLife[]): string | null {
  const down = lives.filter((l) => l.state !== "running");
  if (down.length === 0) return null;
  return down.map((l) =>
    l.lastDeath === undefined
      ? `userspace path ${l.role} Worker starting`
      : `userspace path ${l.role} Worker died (${l.lastDeath}); restarting (restart ${
        l.restarts + (l.state === "dead" ? 1 : 0)
      })`
  ).join("; ");
}
