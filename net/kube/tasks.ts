/**
 * The background work of the kube integration: tasks that run until stop(), timers, and calls
 * retried with backoff. stop() aborts every sleep at once (they throw Stopped), so no task
 * outlives the integration.
 */
import { describeCause } from "../cause.ts";
import type { Logger } from "../log.ts";

/** Thrown by a sleep or a retry once stop() was called; never logged as a failure. */
export class Stopped extends Error {
  override name = "Stopped";
  override message = "stopped (the kube integration was stopped before it finished)";
}

export interface Backoff {
  /** Retry backoff after an API error: from baseMs doubling to capMs, with jitter. */
  backoffBaseMs: number;
  backoffCapMs: number;
}

export class Tasks {
  readonly #abort = new AbortController();
  readonly #tasks: Promise<void>[] = [];
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #log: Logger;
  readonly #backoff: Backoff;

  constructor(log: Logger, backoff: Backoff) {
    this.#log = log;
    this.#backoff = backoff;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Runs `task` until it ends; a failure other than Stopped is logged under `name`. */
  run(name: string, task: Promise<void>): void {
    this.#tasks.push(task.catch((e: unknown) => {
      if (!(e instanceof Stopped) && !this.signal.aborted) {
        this.#log.error("kube task failed", { task: name, error: describeCause(e) });
      }
    }));
  }

  /** Aborts every sleep and timer, then waits for the tasks to end. */
  async stop(): Promise<void> {
    this.#abort.abort();
    for (const t of this.#timers) clearTimeout(t);
    await Promise.all(this.#tasks);
  }

  /** The delay before retry number `attempt` (0-based). */
  backoff(attempt: number): number {
    const { backoffBaseMs, backoffCapMs } = this.#backoff;
    const d = Math.min(backoffCapMs, backoffBaseMs * 2 ** Math.min(attempt, 30));
    return Math.round(d * (1 - 0.25 * Math.random()));
  }

  /**
   * Runs `fn` until it succeeds, backing off on errors and logging each through `onError` (which
   * gets the error and the delay); errors `passThrough` accepts are the caller's. Throws Stopped
   * on stop().
   */
  async retrying<T>(
    fn: () => Promise<T>,
    onError: (e: unknown, retryInMs: number) => void,
    passThrough: (e: unknown) => boolean = () => false,
  ): Promise<T> {
    for (let attempt = 0;; attempt++) {
      if (this.signal.aborted) throw new Stopped();
      try {
        return await fn();
      } catch (e) {
        if (this.signal.aborted) throw new Stopped();
        if (passThrough(e)) throw e;
        const delay = this.backoff(attempt);
        onError(e, delay);
        await this.sleep(delay);
      }
    }
  }

  /** Calls `fn` after `ms` unless stop() comes first. */
  timer(fn: () => void, ms: number): void {
    const id = setTimeout(() => {
      this.#timers.delete(id);
      fn();
    }, ms);
    this.#timers.add(id);
  }

  /** Sleeps `ms`; throws Stopped if stop() is called meanwhile. */
  sleep(ms: number): Promise<void> {
    const signal = this.signal;
    if (signal.aborted) return Promise.reject(new Stopped());
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(id);
        reject(new Stopped());
      };
      const id = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}
