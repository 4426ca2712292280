/**
 * Keeps the bridge's learned entries on the planned path (learned.ts says which are wrong and
 * why): on every plan, and after a pair moved, again a few times in the next second.
 *
 * Why the extra passes: right after a move, frames the peer sent on the old path just before it
 * moved too are still arriving (the userspace path's Workers hold a batch for some milliseconds),
 * and each one teaches the bridge the old port again — measured: both ends moved 2 ms apart and
 * both bridges had the other pod behind the TAP again, so both directions were lost until the next
 * plan, a probe interval (1 s) later (tests/dataplane/switch_loss_test.ts). The passes shortly
 * after the move catch those late frames' entries within tens of milliseconds.
 */
import { LogLimiter } from "../../mesh/log_limit.ts";
import type { Logger } from "../../log.ts";
import type { Plan } from "../plan.ts";
import { forgetMisplaced } from "./vxlan.ts";

/** When to look again after a move, in ms after it (late frames of the old path come early). */
export const SETTLE_AFTER_MOVE_MS = [20, 50, 100, 200, 350, 550, 800] as const;

export interface RelearnDeps {
  names: { bridge: string; vxlan: string; tap: string };
  log: Logger;
  /** The current plan (the passes after a move use the latest one). */
  plan(): Plan | undefined;
  forget?: typeof forgetMisplaced;
  now?: () => number;
  /** setTimeout/clearTimeout (tests pass a fake clock). */
  timer?: { set(fn: () => void, ms: number): unknown; clear(id: unknown): void };
}

const REAL_TIMER = {
  set: (fn: () => void, ms: number) => setTimeout(fn, ms),
  clear: (id: unknown) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

export class RelearnGuard {
  readonly #limiter = new LogLimiter(10_000);
  readonly #timers = new Set<unknown>();
  /** How many entries were forgotten since start (for the log line). */
  forgotten = 0;

  constructor(readonly deps: RelearnDeps) {}

  /** Checks now; after a move also at SETTLE_AFTER_MOVE_MS (earlier pending passes stay). */
  check(moved: boolean): void {
    this.#pass();
    if (!moved) return;
    const timer = this.deps.timer ?? REAL_TIMER;
    for (const ms of SETTLE_AFTER_MOVE_MS) {
      const t = timer.set(() => {
        this.#timers.delete(t);
        this.#pass();
      }, ms);
      this.#timers.add(t);
    }
  }

  stop(): void {
    const timer = this.deps.timer ?? REAL_TIMER;
    for (const t of this.#timers) timer.clear(t);
    this.#timers.clear();
  }

  #pass(): void {
    const p = this.deps.plan();
    if (!p) return;
    const forget = this.deps.forget ?? forgetMisplaced;
    let gone: string[];
    try {
      gone = forget(this.deps.names, p.macOwners, p.paths);
    } catch (e) {
      gone = [];
      this.#note("cannot read the bridge's forwarding database", { error: String(e) });
    }
    if (gone.length === 0) return;
    this.forgotten += gone.length;
    this.#note("forgot pod MACs the bridge learned on the other path", {
      macs: gone,
      total: this.forgotten,
    });
  }

  #note(msg: string, fields: Record<string, unknown>): void {
    const r = this.#limiter.allow(msg, (this.deps.now ?? Date.now)());
    if (r.log) this.deps.log.info(msg, { ...fields, suppressedSinceLast: r.suppressed });
  }
}
