/**
 * The topology as a gossip channel: full state out (reachable peers first), digests for
 * anti-entropy, and received entries merged once their authorship is verified. Pure: time and
 * deferral are passed in.
 *
 * Verification costs about 55 µs an entry, so only entries that would change what the store holds
 * are checked, and at most `inlineChecks` of them while a message is being handled; the rest wait
 * (one candidate per name, the newest) and are checked `sliceChecks` at a time in deferred slices,
 * whose news is then broadcast from here. So a full state of thousands of entries (a newcomer's
 * first message) or a hostile flood never holds the event loop for more than a few milliseconds.
 */
import { describeCause } from "../cause.ts";
import { type EntryVerdict, EntryVerifier } from "./authorship.ts";
import type { GossipChannel, Gossiper, PeerName } from "./gossip_channel.ts";
import type { PeerKeys } from "./keys.ts";
import { peerNameBytes, peerNameFromBytes } from "./peer_name.ts";
import type { verifySignature } from "./signing.ts";
import {
  connectionCount,
  encodeUpdate,
  LIMITS,
  MAX_VERSION,
  type PeerEntry,
  TopologyDecodeError,
} from "./topology.ts";
import { decodeUpdate, UpdateDecoder } from "./topology_decode.ts";
import type { TopologyStore } from "./topology_store.ts";

/** Why a received entry (or a whole message) was dropped: counter labels. */
export type TopologyDrop =
  | Exclude<EntryVerdict, "valid">
  /** Not a valid topology message (or digest): the whole message is dropped. */
  | "malformed"
  /** Too many entries waiting for verification. */
  | "backlog";

export interface TopologyGossipOptions {
  store: TopologyStore;
  keys: PeerKeys;
  now: () => number;
  /**
   * Runs `fn` after `pauseMs`, behind the work already queued (the daemon: a timeout). The
   * pause is twice as long as the slice before it took (slicePause): while a burst lasts, two
   * thirds of the event loop's time at least are left to everything else. Back-to-back slices
   * left a /status request, which needs a few turns of the loop, one slice behind per turn: over
   * a second on a loaded machine (the attack suite's max-topology step, load 20-30: 1.2-1.6 s;
   * with 10 ms slices and equal pauses 0.6-1.2 s; with 5 ms slices and double pauses 0.15-0.55 s).
   */
  defer: (fn: () => void, pauseMs: number) => void;
  /**
   * Work while handling a message, and per deferred slice: signature checks, and connection
   * records of the entries merged (what the next route computation reads).
   */
  inlineChecks?: number;
  sliceChecks?: number;
  inlineRecords?: number;
  sliceRecords?: number;
  /**
   * Milliseconds of work at most while handling a message, and per deferred slice, read on
   * `clock`: the counts above bound a slice on a quiet core, this bounds it on a busy one (a
   * check takes 4x longer on a core shared with three other daemons).
   */
  inlineBudgetMs?: number;
  sliceBudgetMs?: number;
  /** A monotonic clock in ms for the budgets (default performance.now). */
  clock?: () => number;
  /** Entries waiting for verification at most (one per name). */
  maxPending?: number;
  /**
   * Messages up to this size are parsed while being handled; larger ones in deferred slices
   * (parsing the largest takes 40-250 ms). Bytes of messages waiting to be parsed at most.
   */
  inlineParseBytes?: number;
  maxParseBacklogBytes?: number;
  /** A dropped entry or message (forgeries: authorship.ts `isForgery`), for logs. */
  onDrop?: (
    reason: TopologyDrop,
    from: PeerName,
    detail: { peer?: PeerName; error?: string },
  ) => void;
  /** The signature check (the simulator wraps it to measure it). */
  verify?: typeof verifySignature;
}

export const DEFAULT_INLINE_CHECKS = 32;
/**
 * About 7 ms of verification at 55 µs a check, so a slice stays well under 50 ms on a core
 * shared several ways.
 */
export const DEFAULT_SLICE_CHECKS = 128;
export const DEFAULT_INLINE_RECORDS = 4096;
export const DEFAULT_SLICE_RECORDS = 8192;
/**
 * A budget's worth of work, then the event loop serves everything else (e.g. /status). Each slice
 * also merges and recomputes what depends on the topology (a few ms at the store's bounds).
 */
export const DEFAULT_SLICE_BUDGET_MS = 5;
export const DEFAULT_MAX_PENDING = 8192;
export const DEFAULT_INLINE_PARSE_BYTES = 64 * 1024;
/** Four of the largest messages (LIMITS.bytesPerMessage). */
export const DEFAULT_MAX_PARSE_BACKLOG_BYTES = 16 * 1024 * 1024;
/** Entries parsed between two looks at the clock. */
const PARSE_CHUNK = 64;

export class TopologyGossip implements Gossiper {
  readonly verifier: EntryVerifier;
  readonly drops = new Map<TopologyDrop, number>();
  readonly #o: Required<Omit<TopologyGossipOptions, "onDrop" | "verify">>;
  readonly #onDrop: NonNullable<TopologyGossipOptions["onDrop"]>;
  readonly #pending = new Map<PeerName, { entry: PeerEntry; from: PeerName }>();
  /** Large messages being parsed in slices, oldest first, and their bytes. */
  readonly #parsing: Array<{ decoder: UpdateDecoder; from: PeerName; bytes: number }> = [];
  #parsingBytes = 0;
  #channel: GossipChannel | undefined;
  #scheduled = false;
  /** How long the last deferred slice took (0 before the first: the first runs at once). */
  #lastSliceMs = 0;

  constructor(o: TopologyGossipOptions) {
    this.#o = {
      inlineChecks: DEFAULT_INLINE_CHECKS,
      sliceChecks: DEFAULT_SLICE_CHECKS,
      inlineRecords: DEFAULT_INLINE_RECORDS,
      sliceRecords: DEFAULT_SLICE_RECORDS,
      maxPending: DEFAULT_MAX_PENDING,
      inlineParseBytes: DEFAULT_INLINE_PARSE_BYTES,
      maxParseBacklogBytes: DEFAULT_MAX_PARSE_BACKLOG_BYTES,
      inlineBudgetMs: DEFAULT_SLICE_BUDGET_MS,
      sliceBudgetMs: DEFAULT_SLICE_BUDGET_MS,
      clock: () => performance.now(),
      ...o,
    };
    this.#onDrop = o.onDrop ?? (() => {});
    this.verifier = new EntryVerifier(o.keys, o.verify);
  }

  /** The channel this gossiper is registered as: deferred slices broadcast their news on it. */
  attach(channel: GossipChannel): void {
    this.#channel = channel;
  }

  /** Entries waiting for verification, and messages waiting to be parsed. */
  get backlog(): number {
    return this.#pending.size + this.#parsing.length;
  }

  fullState(): Uint8Array {
    return encodeUpdate(this.#o.store.ordered());
  }

  onGossip(from: PeerName, data: Uint8Array): Uint8Array | null {
    if (data.length > this.#o.inlineParseBytes) {
      this.#queueParse(from, data);
      return null;
    }
    let entries: PeerEntry[];
    try {
      entries = decodeUpdate(data);
    } catch (e) {
      this.#drop("malformed", from, { error: describeCause(e) });
      return null;
    }
    for (const e of entries) this.#offer(e, from);
    const delta = this.#drain(
      this.#o.inlineChecks,
      this.#o.inlineRecords,
      this.#o.clock() + this.#o.inlineBudgetMs,
    );
    if (this.#pending.size > 0) this.#schedule();
    return delta.length > 0 ? encodeUpdate(delta) : null;
  }

  onUnicast(): void {}

  digest(): Uint8Array {
    return encodeDigest(this.#o.store.entries());
  }

  onDigest(from: PeerName, data: Uint8Array): { update: Uint8Array | null; behind: boolean } {
    let theirs: Map<PeerName, Stamp>;
    try {
      theirs = decodeDigest(data);
    } catch (e) {
      this.#drop("malformed", from, { error: describeCause(e) });
      return { update: null, behind: false };
    }
    const store = this.#o.store;
    const missing: PeerEntry[] = [];
    for (const e of store.ordered()) {
      const t = theirs.get(e.name);
      if (!t || compareStamps(e, t) > 0) missing.push(e);
    }
    let behind = false;
    for (const [name, t] of theirs) {
      const mine = store.lookup(name);
      if (!mine || compareStamps(t, mine) > 0) {
        behind = true;
        break;
      }
    }
    return { update: missing.length > 0 ? encodeUpdate(missing) : null, behind };
  }

  /** A large message: parsed in deferred slices, its header checked now. */
  #queueParse(from: PeerName, data: Uint8Array): void {
    if (this.#parsingBytes + data.length > this.#o.maxParseBacklogBytes) {
      this.#drop("backlog", from, { error: `${this.#parsingBytes} bytes waiting to be parsed` });
      return;
    }
    let decoder: UpdateDecoder;
    try {
      decoder = new UpdateDecoder(data);
    } catch (e) {
      this.#drop("malformed", from, { error: describeCause(e) });
      return;
    }
    this.#parsing.push({ decoder, from, bytes: data.length });
    this.#parsingBytes += data.length;
    this.#schedule();
  }

  /**
   * Parses queued messages until `deadline` (a chunk at least); a message parsed whole offers
   * its entries, as a small one does at once. A malformed one is dropped whole.
   */
  #parseSome(deadline: number): void {
    let first = true;
    while (this.#parsing.length > 0 && (first || this.#o.clock() < deadline)) {
      first = false;
      const head = this.#parsing[0];
      let done: boolean;
      try {
        done = head.decoder.step(PARSE_CHUNK);
      } catch (e) {
        done = true;
        this.#drop("malformed", head.from, { error: describeCause(e) });
        head.decoder.entries.length = 0;
      }
      if (!done) continue;
      this.#parsing.shift();
      this.#parsingBytes -= head.bytes;
      for (const e of head.decoder.entries) this.#offer(e, head.from);
    }
  }

  /** Queues `e` for verification when it would change what the store holds. */
  #offer(e: PeerEntry, from: PeerName): void {
    if (!this.#o.store.isNews(e)) return;
    const waiting = this.#pending.get(e.name);
    if (waiting) {
      if (compareStampsOf(e, waiting.entry) > 0) this.#pending.set(e.name, { entry: e, from });
      return;
    }
    if (this.#pending.size >= this.#o.maxPending) {
      this.#drop("backlog", from, { peer: e.name });
      return;
    }
    this.#pending.set(e.name, { entry: e, from });
  }

  /**
   * Verifies waiting entries, `checks` at most, until `records` connection records are taken
   * or `budgetMs` has passed (one check at least: a slice always makes progress), and merges
   * the valid ones; returns the news.
   */
  #drain(checks: number, records: number, deadline: number): PeerEntry[] {
    const store = this.#o.store;
    const valid: PeerEntry[] = [];
    const clock = this.#o.clock;
    let first = true;
    for (const [name, { entry, from }] of this.#pending) {
      if (checks <= 0 || records <= 0 || (!first && clock() >= deadline)) break;
      first = false;
      this.#pending.delete(name);
      if (!store.isNews(entry)) continue; // overtaken meanwhile: no check needed
      checks--;
      const verdict = this.verifier.check(entry, this.#o.now());
      if (verdict === "valid") {
        valid.push(entry);
        records -= connectionCount(entry);
      } else this.#drop(verdict, from, { peer: name });
    }
    return valid.length > 0 ? store.apply(valid) : [];
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#o.defer(() => this.#slice(), slicePause(this.#lastSliceMs));
  }

  #slice(): void {
    this.#scheduled = false;
    const start = this.#o.clock();
    const deadline = start + this.#o.sliceBudgetMs;
    this.#parseSome(deadline);
    const delta = this.#pending.size === 0 ? [] : this.#drain(
      this.#o.sliceChecks,
      this.#o.sliceRecords,
      // Parsing took the budget: still one check, so verification always moves on.
      deadline,
    );
    if (delta.length > 0) this.#channel?.broadcast(encodeUpdate(delta));
    // The pause before the next slice: twice what this one took, merge and broadcast included.
    this.#lastSliceMs = this.#o.clock() - start;
    if (this.#parsing.length > 0 || this.#pending.size > 0) this.#schedule();
  }

  #drop(reason: TopologyDrop, from: PeerName, detail: { peer?: PeerName; error?: string }): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
    this.#onDrop(reason, from, detail);
  }
}

/** The pause before a deferred slice: twice as long as the slice before it, 50 ms at most. */
export function slicePause(lastSliceMs: number): number {
  return Math.min(Math.max(0, 2 * lastSliceMs), 50);
}

/** What a digest says of an entry: enough to tell which of two copies is newer. */
export interface Stamp {
  uid: string;
  version: number;
}

function compareStamps(a: Stamp, b: Stamp): number {
  if (a.version !== b.version) return a.version - b.version;
  return a.uid === b.uid ? 0 : a.uid < b.uid ? -1 : 1;
}

/** Newer by stamp, or the same stamp with other bytes (the merge's tie-break decides later). */
function compareStampsOf(a: PeerEntry, b: PeerEntry): number {
  return compareStamps(a, b) || (a === b ? 0 : 1);
}

const DIGEST_ITEM = 6 + 8 + 8;

/** Per entry: name (6 bytes), uid (8), version (8, unsigned). */
export function encodeDigest(entries: Iterable<PeerEntry>): Uint8Array {
  const list = [...entries];
  const out = new Uint8Array(list.length * DIGEST_ITEM);
  const view = new DataView(out.buffer);
  list.forEach((e, i) => {
    const o = i * DIGEST_ITEM;
    out.set(peerNameBytes(e.name), o);
    view.setBigUint64(o + 6, BigInt("0x" + e.uid));
    view.setBigUint64(o + 14, BigInt(e.version));
  });
  return out;
}

export function decodeDigest(data: Uint8Array): Map<PeerName, Stamp> {
  if (data.length % DIGEST_ITEM !== 0) {
    throw new TopologyDecodeError(`topology digest of ${data.length} bytes is not whole entries`);
  }
  if (data.length / DIGEST_ITEM > LIMITS.entriesPerMessage) {
    throw new TopologyDecodeError(`topology digest of more than ${LIMITS.entriesPerMessage}`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = new Map<PeerName, Stamp>();
  for (let o = 0; o < data.length; o += DIGEST_ITEM) {
    const version = view.getBigUint64(o + 14);
    if (version > BigInt(MAX_VERSION)) {
      throw new TopologyDecodeError("topology digest version out of range");
    }
    out.set(peerNameFromBytes(data.subarray(o, o + 6)), {
      uid: view.getBigUint64(o + 6).toString(16).padStart(16, "0"),
      version: Number(version),
    });
  }
  return out;
}
