/**
 * Merging a received ring within a budget of signature checks, and the rest of it in deferred
 * slices (issue 12: no turn of the event loop over ~50 ms). Pure: the clock and the deferral come
 * in through `SliceOptions`, the merge itself through `SliceHost` (exchange.ts).
 */
import type { MergeLimit, RingState } from "./ring.ts";
import type { Entry, PeerName } from "./token.ts";

export interface SliceOptions {
  /**
   * Runs `fn` after `pauseMs`, behind the work already queued (the daemon: a timeout). With it,
   * a received ring whose signature checks do not fit `sliceBudgetMs` is merged in deferred
   * slices, each followed by a pause twice as long as it took (as net/mesh/topology_gossip.ts
   * does): a peer joining a 2,000-peer ring checks ~2,000 signatures (~100 ms of CPU on a quiet
   * core, 4x that on a busy one), which in one task would hold the event loop far beyond 50 ms.
   * Without it, only `sliceChecks` bounds a message, and what did not fit waits for the next one
   * (anti-entropy brings it again): deterministic, for the simulations.
   */
  defer?: (fn: () => void, pauseMs: number) => void;
  /** Milliseconds of signature checks per message and per deferred slice, on `clock`. */
  sliceBudgetMs?: number;
  /** Signature checks per message and per slice at most (default MAX_VERIFY_PER_MERGE). */
  sliceChecks?: number;
  /** A monotonic clock in ms for the budget (default performance.now). */
  clock?: () => number;
  /** A deferred slice failed (e.g. the store could not save): nobody else would hear of it. */
  onSliceError?: (e: unknown) => void;
}

/** What a slice does with the backlog: merge (saving, reporting) and pass the news on. */
export interface SliceHost {
  /** Merges within `limit`, keeping the rest here (`keep`); says whether the view changed. */
  merge(ring: RingState, from: PeerName, limit: MergeLimit): boolean;
  broadcast(): void;
}

/** Verification per slice: with the rest of a slice (merge, save) well under 50 ms when busy. */
export const DEFAULT_SLICE_BUDGET_MS = 10;
/**
 * States kept for deferred slices at most: a joining peer's 2,000-4,000, with room. Bounds what a
 * forged message costs (~0.5 s of CPU at most, spread over slices); what is cut waits for the
 * next message.
 */
export const MAX_BACKLOG = 8192;

export class RingSlices {
  /** The unchecked rest of the newest ring whose checks did not fit a slice. */
  #backlog: { ring: RingState; from: PeerName; changed: boolean } | null = null;
  #scheduled = false;
  #lastSliceMs = 0;

  constructor(private readonly o: SliceOptions, private readonly host: SliceHost) {}

  /** States waiting for a deferred slice. */
  get pending(): number {
    return this.#backlog?.ring.entries.length ?? 0;
  }

  /** Signature checks for one message or slice: a count, and time when slices can be deferred. */
  limit(): MergeLimit {
    const maxChecks = this.o.sliceChecks;
    if (!this.o.defer) return { maxChecks };
    const clock = this.#clock(),
      deadline = clock() + (this.o.sliceBudgetMs ?? DEFAULT_SLICE_BUDGET_MS);
    return { maxChecks, stop: () => clock() >= deadline };
  }

  /** Keeps a merge's unchecked rest for a deferred slice (none without `defer`). */
  keep(seed: string, rest: Entry[] | undefined, from: PeerName): void {
    if (!this.o.defer || !rest?.length) return;
    // The newest message's rest replaces an older one: it is the sender's whole current ring.
    const changed = this.#backlog?.changed ?? false;
    this.#backlog = { ring: { seed, entries: rest.slice(0, MAX_BACKLOG) }, from, changed };
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.o.defer(() => this.#slice(), Math.min(2 * this.#lastSliceMs, 50));
    }
  }

  /** One deferred slice of the backlog; its news is broadcast once the backlog is done. */
  #slice(): void {
    this.#scheduled = false;
    const b = this.#backlog, clock = this.#clock(), start = clock();
    if (!b) return;
    this.#backlog = null;
    let changed = b.changed;
    try {
      if (this.host.merge(b.ring, b.from, this.limit())) changed = true;
    } catch (e) {
      this.o.onSliceError?.(e);
    }
    // A rest of this slice, or a newer message's, is still to come: its end broadcasts.
    const next = this.#backlog as typeof b | null;
    if (next) next.changed ||= changed;
    else if (changed) this.host.broadcast();
    this.#lastSliceMs = clock() - start;
  }

  #clock(): () => number {
    return this.o.clock ?? (() => performance.now());
  }
}
