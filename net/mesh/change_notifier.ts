/**
 * Tells the daemon's components (MeshView.onChange subscribers) that the topology or a data key
 * changed: in a task of its own, never inside the merge that caused it, and at most once per
 * `minIntervalMs`. A burst of changes (a full state of thousands of peers verified in dozens of
 * slices, or a hostile flood) then costs each component one recomputation per interval instead
 * of one per slice: each is O(peers), so per slice they made the burst quadratic. A lone change
 * is told on the next turn of the event loop.
 *
 * The decision (`notifyAt`) is pure; the class holds the one timer, with the clock and timer
 * functions passed in so tests run it on a fake clock.
 */

/**
 * When a change seen at `now` is told: at once unless the last telling was less than
 * `minIntervalMs` ago, then when the interval is over.
 */
export function notifyAt(now: number, last: number | null, minIntervalMs: number): number {
  return last === null ? now : Math.max(now, last + minIntervalMs);
}

export interface ChangeNotifierOptions {
  minIntervalMs: number;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  /** A subscriber threw: the others are still told. */
  onError: (e: unknown) => void;
}

/** Components are told of a burst of changes within this interval, once. */
export const DEFAULT_NOTIFY_INTERVAL_MS = 100;

export class ChangeNotifier {
  readonly #o: Required<ChangeNotifierOptions>;
  readonly #listeners = new Set<() => void>();
  #last: number | null = null;
  #timer: unknown = undefined;
  #stopped = false;

  constructor(o: ChangeNotifierOptions) {
    this.#o = {
      now: () => performance.now(),
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (h) => clearTimeout(h as number),
      ...o,
    };
  }

  subscribe(cb: () => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /** Something changed: subscribers are told soon (coalesced with other changes until then). */
  changed(): void {
    if (this.#stopped || this.#timer !== undefined || this.#listeners.size === 0) return;
    const now = this.#o.now();
    const at = notifyAt(now, this.#last, this.#o.minIntervalMs);
    this.#timer = this.#o.setTimer(() => this.#notify(), Math.max(0, at - now));
  }

  /** No more notifications (the mesh stopped). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  #notify(): void {
    this.#timer = undefined;
    this.#last = this.#o.now();
    for (const cb of [...this.#listeners]) {
      try {
        cb();
      } catch (e) {
        this.#o.onError(e);
      }
    }
  }
}
