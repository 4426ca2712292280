/**
 * Ownership of the cluster range as a CRDT. Pure: no I/O.
 *
 * The range [start, end) is cut by tokens; a token owns the addresses from its start up to the
 * next token (the last one up to the end of the range). A ring is "initialised" once a token sits
 * at the range start, so every address has exactly one owner by construction.
 *
 * State = (set of tokens) × (per token, a register ordered by `entryOrder`). Merge is the union of
 * tokens and the maximum per token: a product of join-semilattices, hence idempotent, commutative
 * and associative. Tokens are never removed.
 *
 * Why two peers never both believe they own an address: only the owner of a segment creates tokens
 * inside it or bumps its token's version (donation), and it persists before it sends. So for every
 * (token, version) there is exactly one value ever created, and a peer always knows every token
 * inside the segments it owns (whoever handed the segment over sent its full state, which contains
 * all tokens it created there). A peer's view of its own segments therefore equals the join of all
 * states, in which each address has one owner. The one exception is `takeover` (rmpeer): a peer
 * takes a dead peer's tokens without being their owner; that is safe when the dead peer is really
 * gone and the survivor's view of it is complete (run rmpeer on one connected survivor), and a
 * takeover loses against an owner-made change of the same version so an in-flight donation by the
 * dead peer still wins deterministically everywhere.
 */

export type PeerName = string;

export interface Entry {
  start: number;
  owner: PeerName;
  /** Bumped by every ownership change of this token. */
  version: number;
  /** True when `owner` took this token from a removed peer (rmpeer) rather than receiving it. */
  takeover: boolean;
}

export interface Segment {
  start: number;
  /** Exclusive. */
  end: number;
  owner: PeerName;
}

/** What a ring carries over the wire and to disk. */
export interface RingState {
  /** Identity of the initial split (the sorted member list); rings of different seeds never mix. */
  seed: string;
  entries: Entry[];
}

export class RingConflictError extends Error {
  override name = "RingConflictError";
}

/** Total order of a token's states: version, then owner-made over takeover, then owner name. */
export function entryOrder(a: Entry, b: Entry): number {
  if (a.version !== b.version) return a.version - b.version;
  if (a.takeover !== b.takeover) return a.takeover ? -1 : 1;
  return a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0;
}

/** The deterministic initial split: the members sorted by name, equal contiguous shares. */
export function seedEntries(start: number, end: number, members: PeerName[]): Entry[] {
  const names = [...new Set(members)].sort();
  if (names.length === 0) throw new Error("cannot seed a ring with no members");
  const size = end - start;
  if (names.length > size) throw new Error(`range too small to split among ${names.length} peers`);
  return names.map((owner, i) => ({
    start: start + Math.floor((i * size) / names.length),
    owner,
    version: 0,
    takeover: false,
  }));
}

export function seedId(members: PeerName[]): string {
  return [...new Set(members)].sort().join(",");
}

export class Ring {
  #entries: Entry[] = [];
  #seed: string | null = null;

  /** An uninitialised ring for [start, end). */
  constructor(readonly start: number, readonly end: number) {
    if (!(end > start)) throw new Error("empty range");
  }

  static seeded(start: number, end: number, members: PeerName[]): Ring {
    const r = new Ring(start, end);
    r.#entries = seedEntries(start, end, members);
    r.#seed = seedId(members);
    return r;
  }

  get initialised(): boolean {
    return this.#seed !== null && this.#entries.length > 0 && this.#entries[0].start === this.start;
  }

  get seed(): string | null {
    return this.#seed;
  }

  get size(): number {
    return this.end - this.start;
  }

  entries(): readonly Entry[] {
    return this.#entries;
  }

  state(): RingState | null {
    if (this.#seed === null) return null;
    return { seed: this.#seed, entries: this.#entries.map((e) => ({ ...e })) };
  }

  segments(): Segment[] {
    const es = this.#entries;
    return es.map((e, i) => ({
      start: e.start,
      end: i + 1 < es.length ? es[i + 1].start : this.end,
      owner: e.owner,
    }));
  }

  /** The segments `peer` owns, adjacent ones joined. */
  ownedBy(peer: PeerName): Segment[] {
    const out: Segment[] = [];
    for (const s of this.segments()) {
      if (s.owner !== peer) continue;
      const last = out[out.length - 1];
      if (last && last.end === s.start) last.end = s.end;
      else out.push(s);
    }
    return out;
  }

  /** Addresses owned per peer. */
  shares(): Map<PeerName, number> {
    const m = new Map<PeerName, number>();
    for (const s of this.segments()) m.set(s.owner, (m.get(s.owner) ?? 0) + s.end - s.start);
    return m;
  }

  ownerOf(ip: number): PeerName | null {
    if (!this.initialised || ip < this.start || ip >= this.end) return null;
    const i = this.#indexAtOrBefore(ip);
    return i < 0 ? null : this.#entries[i].owner;
  }

  /**
   * Joins `other` into this ring. Returns true when anything changed. Throws RingConflictError when
   * the rings cannot belong to one cluster (different seeds), leaving this ring unchanged.
   */
  merge(other: RingState): boolean {
    if (this.#seed !== null && other.seed !== this.#seed) {
      throw new RingConflictError(
        `IP allocation was seeded by different peers (ours: ${this.#seed}; theirs: ${other.seed}): ` +
          `these peers formed separate clusters; delete the data dir of the peers in the wrong ` +
          `cluster and restart them`,
      );
    }
    for (const e of other.entries) {
      if (e.start < this.start || e.start >= this.end) {
        throw new RingConflictError(`ring entry ${e.start} lies outside our range`);
      }
    }
    const a = this.#entries;
    const b = [...other.entries].sort((x, y) => x.start - y.start);
    const out: Entry[] = [];
    let changed = this.#seed === null;
    let i = 0, j = 0;
    while (i < a.length || j < b.length) {
      if (j >= b.length || (i < a.length && a[i].start < b[j].start)) out.push(a[i++]);
      else if (i >= a.length || b[j].start < a[i].start) {
        out.push({ ...b[j++] });
        changed = true;
      } else {
        if (entryOrder(b[j], a[i]) > 0) {
          out.push({ ...b[j] });
          changed = true;
        } else out.push(a[i]);
        i++, j++;
      }
    }
    this.#entries = out;
    this.#seed = other.seed;
    return changed;
  }

  /**
   * Hands [from, to) over from `self` to `recipient`. `self` must own all of it (checked): the only
   * way ownership moves besides `takeover`.
   */
  transfer(self: PeerName, recipient: PeerName, from: number, to: number): void {
    if (!(to > from) || from < this.start || to > this.end) throw new Error("bad transfer bounds");
    for (let ip = from; ip < to;) {
      const i = this.#indexAtOrBefore(ip);
      const e = this.#entries[i];
      const segEnd = i + 1 < this.#entries.length ? this.#entries[i + 1].start : this.end;
      if (e.owner !== self) throw new Error(`transfer of space not owned by ${self}`);
      ip = segEnd;
    }
    this.#split(to);
    this.#split(from);
    for (const e of this.#entries) {
      if (e.start >= from && e.start < to) {
        e.owner = recipient;
        e.version++;
        e.takeover = false;
      }
    }
  }

  /** rmpeer: `self` takes every token of `dead`. Returns how many addresses moved. */
  takeover(self: PeerName, dead: PeerName): number {
    let n = 0;
    const segs = this.segments();
    this.#entries.forEach((e, i) => {
      if (e.owner !== dead) return;
      n += segs[i].end - segs[i].start;
      e.owner = self;
      e.version++;
      e.takeover = true;
    });
    return n;
  }

  /** Ensures a token starts at `at` (inheriting the owner), so ownership can change from there. */
  #split(at: number): void {
    if (at >= this.end) return;
    const i = this.#indexAtOrBefore(at);
    const cur = this.#entries[i];
    if (cur.start === at) return;
    // A new token: nobody else can have created one here, since only the owner of the enclosing
    // segment creates tokens inside it. Version 0 of it is the first state ever.
    this.#entries.splice(i + 1, 0, { start: at, owner: cur.owner, version: 0, takeover: false });
  }

  #indexAtOrBefore(ip: number): number {
    const es = this.#entries;
    let lo = 0, hi = es.length - 1, ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (es[mid].start <= ip) {
        ans = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return ans;
  }
}
