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
import { type EntryVerdict, EntryVerifier } from "./authorship.ts";
import type { GossipChannel, Gossiper, PeerName } from "./gossip_channel.ts";
import type { PeerKeys } from "./keys.ts";
import { peerNameBytes, peerNameFromBytes } from "./peer_name.ts";
import type { verifySignature } from "./signing.ts";
import {
  connectionCount,
  decodeUpdate,
  encodeUpdate,
  LIMITS,
  MAX_VERSION,
  type PeerEntry,
  TopologyDecodeError,
} from "./topology.ts";
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
  /** Runs `fn` soon, after the work already queued (the daemon: a zero timeout). */
  defer: (fn: () => void) => void;
  /**
   * Work while handling a message, and per deferred slice: signature checks, and connection
   * records of the entries merged (what the next route computation reads).
   */
  inlineChecks?: number;
  sliceChecks?: number;
  inlineRecords?: number;
  sliceRecords?: number;
  /** Entries waiting for verification at most (one per name). */
  maxPending?: number;
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
export const DEFAULT_MAX_PENDING = 8192;

export class TopologyGossip implements Gossiper {
  readonly verifier: EntryVerifier;
  readonly drops = new Map<TopologyDrop, number>();
  readonly #o: Required<Omit<TopologyGossipOptions, "onDrop" | "verify">>;
  readonly #onDrop: NonNullable<TopologyGossipOptions["onDrop"]>;
  readonly #pending = new Map<PeerName, { entry: PeerEntry; from: PeerName }>();
  #channel: GossipChannel | undefined;
  #scheduled = false;

  constructor(o: TopologyGossipOptions) {
    this.#o = {
      inlineChecks: DEFAULT_INLINE_CHECKS,
      sliceChecks: DEFAULT_SLICE_CHECKS,
      inlineRecords: DEFAULT_INLINE_RECORDS,
      sliceRecords: DEFAULT_SLICE_RECORDS,
      maxPending: DEFAULT_MAX_PENDING,
      ...o,
    };
    this.#onDrop = o.onDrop ?? (() => {});
    this.verifier = new EntryVerifier(o.keys, o.verify);
  }

  /** The channel this gossiper is registered as: deferred slices broadcast their news on it. */
  attach(channel: GossipChannel): void {
    this.#channel = channel;
  }

  /** Entries waiting for verification. */
  get backlog(): number {
    return this.#pending.size;
  }

  fullState(): Uint8Array {
    return encodeUpdate(this.#o.store.ordered());
  }

  onGossip(from: PeerName, data: Uint8Array): Uint8Array | null {
    let entries: PeerEntry[];
    try {
      entries = decodeUpdate(data);
    } catch (e) {
      this.#drop("malformed", from, { error: (e as Error).message });
      return null;
    }
    for (const e of entries) this.#offer(e, from);
    const delta = this.#drain(this.#o.inlineChecks, this.#o.inlineRecords);
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
      this.#drop("malformed", from, { error: (e as Error).message });
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
   * Verifies waiting entries, `checks` at most and until `records` connection records are
   * taken, and merges the valid ones; returns the news.
   */
  #drain(checks: number, records: number): PeerEntry[] {
    const store = this.#o.store;
    const valid: PeerEntry[] = [];
    for (const [name, { entry, from }] of this.#pending) {
      if (checks <= 0 || records <= 0) break;
      this.#pending.delete(name);
      if (!store.isNews(entry)) continue; // overtaken meanwhile: no check needed
      checks--;
      const verdict = this.verifier.check(entry, this.#o.now());
      if (verdict === "valid") {
        valid.push(entry);
        records -= connectionCount(entry);
      } else this.#drop(verdict, from, { peer: name });
    }
    const delta = valid.length > 0 ? store.apply(valid) : [];
    if (this.#pending.size > 0 && !this.#scheduled) {
      this.#scheduled = true;
      this.#o.defer(() => this.#slice());
    }
    return delta;
  }

  #slice(): void {
    this.#scheduled = false;
    const delta = this.#drain(this.#o.sliceChecks, this.#o.sliceRecords);
    if (delta.length > 0) this.#channel?.broadcast(encodeUpdate(delta));
  }

  #drop(reason: TopologyDrop, from: PeerName, detail: { peer?: PeerName; error?: string }): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
    this.#onDrop(reason, from, detail);
  }
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
