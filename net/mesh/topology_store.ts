/**
 * The local peer's copy of the topology: its own entry (which only it writes and signs), everyone
 * else's (verified before they get here: topology_gossip.ts), and the routes derived from them,
 * recomputed lazily after every change. Bounded (STORE_LIMITS): beyond the bounds, entries of
 * peers unreachable from here go first. Pure: no I/O (time is passed in), so the simulator runs
 * thousands of these.
 */
import type { PeerName } from "./gossip_channel.ts";
import { bfsTree, broadcastNextHops, unicastRoutes } from "./routes.ts";
import {
  compareEntries,
  connectionCount,
  type ConnectionRecord,
  LIMITS,
  MAX_VERSION,
  MAX_VERSION_STEP,
  type PeerEntry,
  signEntry,
  type Topology,
} from "./topology.ts";

/** How often an earlier life of this peer may overtake our entry before we call it a clash. */
const MAX_JUMPS_PER_UID = 5;

/**
 * What the store keeps at most: peers (a full state must fit one message, LIMITS in topology.ts),
 * peers unreachable from here among them, and connection records over all entries (what route
 * computation walks).
 */
export const STORE_LIMITS = { peers: 4096, unreachable: 1024, connections: 50_000 };

export interface SelfIdentity {
  name: PeerName;
  nickname: string;
  uid: string;
}

/** This peer's signing key (SigningKey, or a test keyring's). */
export interface Signer {
  readonly publicKey: Uint8Array;
  sign(domain: string, payload: Uint8Array): Uint8Array;
}

/** Why an entry that was news was not kept: counter labels. */
export type StoreRefusal = "full" | "version-jump";

export interface StoreOptions {
  /** Lets many stores share one snapshot (the simulator); entries here override it. */
  base?: Topology;
  version?: number;
  onListenerError?: (e: unknown) => void;
  limits?: Partial<typeof STORE_LIMITS>;
}

const baseConnections = new WeakMap<Topology, number>();

function countConnections(t: Topology): number {
  let n = baseConnections.get(t);
  if (n === undefined) {
    n = 0;
    for (const e of t.values()) n += connectionCount(e);
    baseConnections.set(t, n);
  }
  return n;
}

export class TopologyStore {
  readonly self: PeerName;
  #own: PeerEntry;
  /** Entries changed or added locally, least recently updated first; `#base` holds the rest. */
  readonly #entries = new Map<PeerName, PeerEntry>();
  readonly #base: Topology;
  readonly #forgotten = new Set<PeerName>();
  readonly #signer: Signer;
  readonly #limits: typeof STORE_LIMITS;
  readonly #listeners = new Set<() => void>();
  #unicast: Map<PeerName, PeerName> | null = null;
  #broadcast = new Map<PeerName, PeerName[] | null>();
  /** Peers reachable at the last route computation (self included). */
  #reachableCount = 1;
  #connections: number;
  readonly #unreachableSince = new Map<PeerName, number>();
  readonly #jumps = new Map<string, number>();
  readonly #onListenerError: (e: unknown) => void;
  readonly #conflictListeners = new Set<(uid: string) => void>();
  readonly refusals = new Map<StoreRefusal | "evicted-unreachable", number>();

  constructor(id: SelfIdentity, signer: Signer, opts: StoreOptions = {}) {
    this.self = id.name;
    this.#signer = signer;
    this.#limits = { ...STORE_LIMITS, ...opts.limits };
    this.#onListenerError = opts.onListenerError ?? ((e) => {
      throw e;
    });
    this.#base = opts.base ?? new Map();
    this.#connections = countConnections(this.#base);
    const previous = this.#base.get(id.name);
    if (previous) this.#connections -= connectionCount(previous);
    this.#own = this.#sign({
      ...id,
      version: Math.max(opts.version ?? 1, previous ? previous.version + 1 : 0),
      connections: [],
    });
    this.#entries.set(id.name, this.#own);
  }

  get own(): PeerEntry {
    return this.#own;
  }

  readonly lookup = (name: PeerName): PeerEntry | undefined => {
    const e = this.#entries.get(name);
    if (e) return e;
    return this.#forgotten.has(name) ? undefined : this.#base.get(name);
  };

  /**
   * Every entry, those reachable from here first in breadth-first order from here: a receiver
   * that verifies a full state in slices holds a connected topology after every slice.
   */
  *ordered(): IterableIterator<PeerEntry> {
    const tree = bfsTree(this.self, this.lookup);
    for (const name of tree.keys()) yield this.lookup(name)!;
    for (const e of this.entries()) if (!tree.has(e.name)) yield e;
  }

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

  /** Replaces the local peer's connections; returns its new signed entry (to broadcast). */
  setConnections(connections: ConnectionRecord[]): PeerEntry {
    const kept = connections.slice(0, LIMITS.connectionsPerPeer);
    this.#connections += kept.length - this.#own.connections.length;
    this.#setOwn({ ...this.#own, version: this.#own.version + 1, connections: kept });
    this.#changed();
    return this.#own;
  }

  /**
   * Whether `e` would change what this store holds (so it is worth verifying): newer than the
   * entry held for its name, or, for our own name, an earlier life that would win.
   * Refuses (and counts) a version that moves more than MAX_VERSION_STEP past the one held.
   */
  isNews(e: PeerEntry): boolean {
    if (e.name === this.self) return compareEntries(e, this.#own) > 0;
    const cur = this.lookup(e.name);
    if (!cur) return true;
    if (compareEntries(e, cur) <= 0) return false;
    if (e.version - cur.version > MAX_VERSION_STEP) {
      this.#count("version-jump");
      return false;
    }
    return true;
  }

  /**
   * Merges entries whose authorship was verified (authorship.ts); returns those that were news
   * here (to pass on), maybe none.
   */
  apply(received: PeerEntry[]): PeerEntry[] {
    const delta: PeerEntry[] = [];
    let ownBumped = false;
    for (const e of received) {
      if (e.name === this.self) {
        ownBumped = this.#earlierLife(e) || ownBumped;
        continue;
      }
      if (!this.isNews(e) || !this.#room(e)) continue;
      this.#entries.delete(e.name); // re-inserted last: most recently updated
      this.#entries.set(e.name, e);
      this.#forgotten.delete(e.name);
      delta.push(e);
    }
    if (ownBumped) delta.push(this.#own);
    if (delta.length > 0) this.#changed();
    if (this.size - this.#reachableCount > this.#limits.unreachable) {
      this.#routes();
      this.#evictUnreachable(this.size - this.#reachableCount - this.#limits.unreachable);
    }
    return delta;
  }

  /** Drops the entry of `name` (its key was replaced or forgotten). */
  drop(name: PeerName): boolean {
    if (name === this.self || !this.#remove(name)) return false;
    this.#changed();
    return true;
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
        this.#remove(e.name);
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

  /**
   * Our own name from elsewhere, signed with our key: an earlier life of this peer, a stale copy,
   * or an entry of this life we did not write (our uid at a version above ours: only a holder of
   * our key makes one, and it would hide our real connections until our version passed it). Never
   * take it; if it would win the merge, jump past it so our entry wins everywhere.
   */
  #earlierLife(e: PeerEntry): boolean {
    if (compareEntries(e, this.#own) <= 0) return false; // 0: our own entry, relayed back
    // A dead earlier life stops changing, so a few jumps settle it. One that keeps overtaking us
    // is alive: another process uses our name and key. Jumping on would make the two outbid each
    // other forever, so we stop and say so.
    const jumps = (this.#jumps.get(e.uid) ?? 0) + 1;
    this.#jumps.set(e.uid, jumps);
    if (jumps > MAX_JUMPS_PER_UID || e.version >= MAX_VERSION) {
      if (jumps === MAX_JUMPS_PER_UID + 1) { for (const cb of this.#conflictListeners) cb(e.uid); }
      return false;
    }
    this.#setOwn({ ...this.#own, version: e.version + 1 });
    return true;
  }

  /** Whether `e` fits the bounds, making room among unreachable peers for a new name. */
  #room(e: PeerEntry): boolean {
    const cur = this.lookup(e.name);
    if (!cur && this.size >= this.#limits.peers && this.#evictUnreachable(1) === 0) {
      this.#count("full");
      return false;
    }
    const grow = connectionCount(e) - (cur ? connectionCount(cur) : 0);
    if (this.#connections + grow > this.#limits.connections) {
      this.#count("full");
      return false;
    }
    this.#connections += grow;
    return true;
  }

  /** Evicts up to `n` unreachable peers, least recently updated first; returns how many. */
  #evictUnreachable(n: number): number {
    const routes = this.#routes();
    let evicted = 0;
    for (const e of [...this.entries()]) {
      if (evicted >= n) break;
      if (e.name === this.self || routes.has(e.name)) continue;
      this.#remove(e.name);
      evicted++;
    }
    if (evicted > 0) {
      this.#count("evicted-unreachable", evicted);
      this.#changed();
    }
    return evicted;
  }

  #remove(name: PeerName): boolean {
    const e = this.lookup(name);
    if (!e) return false;
    this.#entries.delete(name);
    if (this.#base.has(name)) this.#forgotten.add(name);
    this.#unreachableSince.delete(name);
    this.#connections -= connectionCount(e);
    return true;
  }

  #sign(body: Omit<PeerEntry, "key" | "signature">): PeerEntry {
    return signEntry(
      { ...body, version: Math.min(body.version, MAX_VERSION) },
      this.#signer.publicKey,
      (d, p) => this.#signer.sign(d, p),
    );
  }

  #setOwn(body: Omit<PeerEntry, "key" | "signature">): void {
    this.#own = this.#sign(body);
    this.#entries.set(this.self, this.#own);
  }

  #count(what: StoreRefusal | "evicted-unreachable", n = 1): void {
    this.refusals.set(what, (this.refusals.get(what) ?? 0) + n);
  }

  #routes(): Map<PeerName, PeerName> {
    if (!this.#unicast) {
      this.#unicast = unicastRoutes(this.self, this.lookup);
      this.#reachableCount = this.#unicast.size + 1;
    }
    return this.#unicast;
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
