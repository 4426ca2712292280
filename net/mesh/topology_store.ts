/**
 * The local peer's copy of the topology: its own entry (which only it writes), everyone else's,
 * and the routes derived from them, recomputed lazily after every change. Pure: no I/O (time is
 * passed in), so the simulator runs thousands of these.
 */
import type { Gossiper, PeerName } from "./gossip_channel.ts";
import { broadcastNextHops, type Lookup, unicastRoutes } from "./routes.ts";
import {
  compareEntries,
  type ConnectionRecord,
  decodeUpdate,
  encodeUpdate,
  normaliseEntry,
  type PeerEntry,
  type Topology,
  TopologyDecodeError,
} from "./topology.ts";
import { peerNameBytes, peerNameFromBytes } from "./peer_name.ts";

/** What a digest says of an entry: enough to tell which of two copies is newer. */
interface Stamp {
  uid: string;
  version: number;
}

function compareStamps(a: Stamp, b: Stamp): number {
  if (a.version !== b.version) return a.version - b.version;
  return a.uid === b.uid ? 0 : a.uid < b.uid ? -1 : 1;
}

const DIGEST_ITEM = 6 + 8 + 8;
/** How often an earlier life of this peer may overtake our entry before we call it a clash. */
const MAX_JUMPS_PER_UID = 5;

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
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = new Map<PeerName, Stamp>();
  for (let o = 0; o < data.length; o += DIGEST_ITEM) {
    const version = view.getBigUint64(o + 14);
    if (version > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new TopologyDecodeError("topology digest version out of range");
    }
    out.set(peerNameFromBytes(data.subarray(o, o + 6)), {
      uid: view.getBigUint64(o + 6).toString(16).padStart(16, "0"),
      version: Number(version),
    });
  }
  return out;
}

export interface SelfIdentity {
  name: PeerName;
  nickname: string;
  uid: string;
}

export class TopologyStore {
  readonly self: PeerName;
  #own: PeerEntry;
  /** Entries changed or added locally; `#base` (shared, never mutated) holds the rest. */
  readonly #entries = new Map<PeerName, PeerEntry>();
  readonly #base: Topology;
  readonly #forgotten = new Set<PeerName>();
  readonly #listeners = new Set<() => void>();
  #unicast: Map<PeerName, PeerName> | null = null;
  #broadcast = new Map<PeerName, PeerName[] | null>();
  readonly #unreachableSince = new Map<PeerName, number>();
  readonly #jumps = new Map<string, number>();
  readonly #onListenerError: (e: unknown) => void;
  readonly #conflictListeners = new Set<(uid: string) => void>();

  /** `base` lets many stores share one snapshot (the simulator); entries here override it. */
  constructor(
    id: SelfIdentity,
    opts: { base?: Topology; version?: number; onListenerError?: (e: unknown) => void } = {},
  ) {
    this.self = id.name;
    this.#onListenerError = opts.onListenerError ?? ((e) => {
      throw e;
    });
    this.#base = opts.base ?? new Map();
    const previous = this.#base.get(id.name);
    this.#own = {
      ...id,
      version: Math.max(opts.version ?? 1, previous ? previous.version + 1 : 0),
      connections: [],
    };
    this.#entries.set(id.name, this.#own);
  }

  get own(): PeerEntry {
    return this.#own;
  }

  readonly lookup: Lookup = (name) => {
    const e = this.#entries.get(name);
    if (e) return e;
    return this.#forgotten.has(name) ? undefined : this.#base.get(name);
  };

  *entries(): IterableIterator<PeerEntry> {
    yield* this.#entries.values();
    for (const [name, e] of this.#base) {
      if (!this.#entries.has(name) && !this.#forgotten.has(name)) yield e;
    }
  }

  get size(): number {
    let n = this.#entries.size;
    for (const name of this.#base.keys()) {
      if (!this.#entries.has(name) && !this.#forgotten.has(name)) n++;
    }
    return n;
  }

  /** Replaces the local peer's connections; returns its new entry (to broadcast). */
  setConnections(connections: ConnectionRecord[]): PeerEntry {
    this.#own = normaliseEntry({ ...this.#own, version: this.#own.version + 1, connections });
    this.#entries.set(this.self, this.#own);
    this.#changed();
    return this.#own;
  }

  /** Merges received entries; returns those that were news here (to pass on), maybe none. */
  apply(received: PeerEntry[]): PeerEntry[] {
    const delta: PeerEntry[] = [];
    let ownBumped = false;
    for (const e of received) {
      if (e.name === this.self) {
        // Our own name from elsewhere: an earlier life of this peer, or a stale copy. Never take
        // it; if it would win the merge, jump past it so our current entry wins everywhere.
        if (e.uid !== this.#own.uid && compareEntries(e, this.#own) >= 0) {
          // A dead earlier life stops changing, so a few jumps settle it. One that keeps
          // overtaking us is alive: another peer uses our name. Jumping on would make the two
          // outbid each other forever, so we stop and say so.
          const jumps = (this.#jumps.get(e.uid) ?? 0) + 1;
          this.#jumps.set(e.uid, jumps);
          if (jumps <= MAX_JUMPS_PER_UID) {
            this.#own = { ...this.#own, version: e.version + 1 };
            this.#entries.set(this.self, this.#own);
            ownBumped = true;
          } else if (jumps === MAX_JUMPS_PER_UID + 1) {
            for (const cb of this.#conflictListeners) cb(e.uid);
          }
        }
        continue;
      }
      const cur = this.lookup(e.name);
      if (cur && compareEntries(e, cur) <= 0) continue;
      this.#entries.set(e.name, e);
      this.#forgotten.delete(e.name);
      delta.push(e);
    }
    if (ownBumped) delta.push(this.#own);
    if (delta.length > 0) this.#changed();
    return delta;
  }

  /** Next hop towards `dest` over established connections, if it is reachable. */
  unicastNextHop(dest: PeerName): PeerName | undefined {
    return this.#routes().get(dest);
  }

  /** Where to relay a broadcast from `source`; null when this peer is not in its tree yet. */
  broadcastNextHops(source: PeerName): PeerName[] | null {
    let hops = this.#broadcast.get(source);
    if (hops === undefined) {
      hops = broadcastNextHops(source, this.self, this.lookup);
      this.#broadcast.set(source, hops);
    }
    return hops;
  }

  reachable(name: PeerName): boolean {
    return name === this.self || this.#routes().has(name);
  }

  /** The unicast routing table (destination → next hop). */
  routes(): ReadonlyMap<PeerName, PeerName> {
    return this.#routes();
  }

  /**
   * Drops peers that have been unreachable for `graceMs` (call periodically). Returns their names.
   */
  forgetUnreachable(now: number, graceMs: number): PeerName[] {
    const gone: PeerName[] = [];
    for (const e of [...this.entries()]) {
      if (this.reachable(e.name)) {
        this.#unreachableSince.delete(e.name);
        continue;
      }
      const since = this.#unreachableSince.get(e.name);
      if (since === undefined) this.#unreachableSince.set(e.name, now);
      else if (now - since >= graceMs) {
        this.#entries.delete(e.name);
        if (this.#base.has(e.name)) this.#forgotten.add(e.name);
        this.#unreachableSince.delete(e.name);
        gone.push(e.name);
      }
    }
    for (const name of this.#unreachableSince.keys()) {
      if (!this.lookup(name)) this.#unreachableSince.delete(name);
    }
    if (gone.length > 0) this.#changed();
    return gone;
  }

  /** Called once per uid found to be another live peer using our name. */
  onNameConflict(cb: (uid: string) => void): () => void {
    this.#conflictListeners.add(cb);
    return () => this.#conflictListeners.delete(cb);
  }

  onChange(cb: () => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /** The topology as a gossip channel's state: full state out, merge in, deltas onward. */
  gossiper(): Gossiper {
    return {
      fullState: () => encodeUpdate(this.entries()),
      onGossip: (_from, data) => {
        const delta = this.apply(decodeUpdate(data));
        return delta.length > 0 ? encodeUpdate(delta) : null;
      },
      onUnicast: () => {},
      digest: () => encodeDigest(this.entries()),
      onDigest: (_from, data) => {
        const theirs = decodeDigest(data);
        const missing: PeerEntry[] = [];
        for (const e of this.entries()) {
          const t = theirs.get(e.name);
          if (!t || compareStamps(e, t) > 0) missing.push(e);
        }
        let behind = false;
        for (const [name, t] of theirs) {
          const mine = this.lookup(name);
          if (!mine || compareStamps(t, mine) > 0) {
            behind = true;
            break;
          }
        }
        return { update: missing.length > 0 ? encodeUpdate(missing) : null, behind };
      },
    };
  }

  #routes(): Map<PeerName, PeerName> {
    return (this.#unicast ??= unicastRoutes(this.self, this.lookup));
  }

  #changed(): void {
    this.#unicast = null;
    this.#broadcast = new Map();
    // A failing listener (a component) must not break the merge or the other listeners.
    for (const cb of this.#listeners) {
      try {
        cb();
      } catch (e) {
        this.#onListenerError(e);
      }
    }
  }
}
