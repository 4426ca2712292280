/**
 * Ownership of the cluster range, with every change signed by the peer that made it. Pure apart
 * from the signature calls that come in through `RingAuth` (token.ts).
 *
 * The range [start, end) is cut by tokens; a token owns the addresses from its start up to the
 * next token (the last one up to the end of the range). A ring is "initialised" once a token sits
 * at the range start, so every address has exactly one owner by construction. The initial split
 * (version 0) is computed from the seed (the sorted initial members), so it needs no signature.
 *
 * Who may change a token (docs/PROTOCOL.md §9): its current owner — by donating it (the owner
 * signs the new state naming the recipient) or splitting it — or, only while that owner is
 * unreachable, a member taking it over with rmpeer. So a relay passes states on but cannot make
 * one, and a peer that never owned a token cannot move it. A receiver keeps, per token, the latest
 * state each author signed ("links"); its view of the token is the end of the chain it can follow
 * from what it held: from owner O to O's latest link, and so on. This lets a peer that missed
 * changes catch up in one step per change without trusting whoever relays them. Space that this
 * peer owns changes only by its own signature: a takeover of it (it was removed with rmpeer while
 * away, or a forger) is refused and reported, never applied.
 *
 * Why two honest peers never both believe they own an address: only the owner of a segment
 * creates tokens inside it or signs its token's next state, and it persists before it sends; a
 * state that is not on a chain from the receiver's view is not applied. The exception is
 * `takeover` (rmpeer), safe when the removed peer is really gone and the survivor's view of it is
 * complete (run rmpeer on one connected survivor); a takeover loses against an owner-made change
 * of the same version, so an in-flight donation by the removed peer still wins everywhere.
 */
import { describeCause } from "../cause.ts";
import {
  admissible,
  firstState,
  keepSigned,
  LinkStore,
  type MergeLimit,
  type MergeReport,
  type View,
  walk,
} from "./links.ts";
import {
  type Entry,
  MAX_VERSION,
  type PeerName,
  type RingAuth,
  ringScope,
  sameEntry,
  seedEntries,
  seedId,
  seedMembers,
  sigFromText,
  signEntry,
  tokenBytes,
} from "./token.ts";
import { indexAtOrBefore, ownedSegments, type Segment, segmentsOf, sharesOf } from "./segments.ts";
import { WeavetsError } from "../errors.ts";

export { type Entry, entryOrder, type PeerName, seedEntries, seedId } from "./token.ts";
export type { MergeLimit, MergeReport, Refusal } from "./links.ts";
export type { Segment } from "./segments.ts";

/** What a ring carries over the wire and to disk. */
export interface RingState {
  /** Identity of the initial split (the sorted member list); rings of different seeds never mix. */
  seed: string;
  /** The current state of every token. */
  entries: Entry[];
  /** Other signed states kept per (token, author), for peers that missed changes. */
  links?: Entry[];
}

export class RingConflictError extends WeavetsError {
  override name = "RingConflictError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("conflict", message, opts);
  }
}

export class Ring {
  #entries: Entry[] = [];
  /** Per token start, per author: the latest state that author signed. */
  readonly #links = new LinkStore();
  readonly #view: View = {
    at: (start) => this.#at(start),
    before: (start) => {
      const i = this.#indexAtOrBefore(start - 1);
      return i < 0 ? null : this.#entries[i].start;
    },
  };
  #seed: string | null = null;
  #scope = "";
  #genesis = new Map<number, PeerName>();
  #members = new Set<PeerName>();
  #dirty = false;
  readonly #auth: RingAuth | null;

  /** An uninitialised ring for [start, end); `auth` signs and checks changes (merge, transfer). */
  constructor(readonly start: number, readonly end: number, auth: RingAuth | null = null) {
    if (!(end > start)) throw new Error("empty range");
    this.#auth = auth;
  }

  static seeded(start: number, end: number, members: PeerName[], auth: RingAuth | null = null) {
    const r = new Ring(start, end, auth);
    r.seedWith(members);
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

  /** The signed scope of this ring's tokens (token.ts `ringScope`); "" before the seed is known. */
  get scope(): string {
    return this.#scope;
  }

  state(): RingState | null {
    if (this.#seed === null) return null;
    const links: Entry[] = [];
    for (const l of this.#links.all()) {
      const cur = this.#at(l.start);
      if (l.sig !== "" && !(cur && sameEntry(cur, l))) links.push({ ...l });
    }
    links.sort((a, b) => a.start - b.start || (a.author < b.author ? -1 : 1));
    // Unsigned states other than the initial split (format 1's, restored from disk) stay here.
    const entries = this.#entries.filter((e) => e.sig !== "" || this.#isGenesis(e));
    return { seed: this.#seed, entries: entries.map((e) => ({ ...e })), links };
  }

  segments(): Segment[] {
    return segmentsOf(this.#entries, this.end);
  }

  /** The segments `peer` owns, adjacent ones joined. */
  ownedBy(peer: PeerName): Segment[] {
    return ownedSegments(this.segments(), peer);
  }

  /** Addresses owned per peer. */
  shares(): Map<PeerName, number> {
    return sharesOf(this.segments());
  }

  ownerOf(ip: number): PeerName | null {
    if (!this.initialised || ip < this.start || ip >= this.end) return null;
    const i = this.#indexAtOrBefore(ip);
    return i < 0 ? null : this.#entries[i].owner;
  }

  /** Peers' reachability changed: the next merge follows every token's chain again. */
  reachabilityChanged(): void {
    this.#dirty = true;
  }

  /** May `peer` take over an unreachable peer's space: an initial member, or an owner of space. */
  mayTakeOver(peer: PeerName): boolean {
    return this.#members.has(peer) || this.#entries.some((e) => e.owner === peer);
  }

  /** Adopts the initial split of `members` (the consensus decision, or `--ipalloc-init=seed`). */
  seedWith(members: PeerName[]): void {
    this.#adoptSeed(seedId(members));
  }

  /** Restores this peer's own persisted state (trusted: it wrote it). */
  restore(s: RingState): void {
    this.#adoptSeed(s.seed);
    this.#entries = s.entries.map((e) => ({ ...e })).sort((a, b) => a.start - b.start);
    for (const e of [...s.entries, ...(s.links ?? [])]) this.#links.store({ ...e });
  }

  /**
   * Takes in a peer's ring: keeps the states their authors may sign (checked), then follows each
   * token's chain; `limit` bounds the signature checks (the rest are in the report's `rest`, to
   * merge in a later slice). Throws RingConflictError when the rings cannot belong to one cluster
   * (different seeds), leaving this ring unchanged.
   */
  merge(other: RingState, prefer?: PeerName, limit: MergeLimit = {}): MergeReport {
    const auth = this.#needAuth();
    const rep: MergeReport = { changed: false, refused: {}, takenFromSelf: [], deferred: 0 };
    if (this.#seed !== null && other.seed !== this.#seed) {
      throw new RingConflictError(
        `IP allocation was seeded by different peers (ours: ${this.#seed}; theirs: ${other.seed}): ` +
          `these peers formed separate clusters; delete the data dir of the peers in the wrong ` +
          `cluster and restart them`,
      );
    }
    if (this.#seed === null) {
      this.#adoptSeed(other.seed);
      rep.changed = true;
    }
    let pending = admissible(other, this, this.#links, (e) => this.#isGenesis(e), rep);
    // What concerns this peer, or the sender's own states (a donor's), first: the budget may end.
    const first = (e: Entry) => e.owner === auth.self || e.author === prefer;
    pending = [...pending.filter(first), ...pending.filter((e) => !first(e))];
    const fresh = keepSigned(
      pending,
      {
        links: this.#links,
        mayAuthor: (e) => this.#mayAuthor(e),
        versionHeld: (start) => this.#at(start)?.version ?? 0,
        verify: (e) => auth.verify(e.author, tokenBytes(this.#scope, e), sigFromText(e.sig)),
      },
      limit,
      rep,
    );
    // Nothing new and nobody's reachability changed: the view cannot change (saves a pass over
    // every token for each anti-entropy message).
    if (fresh.size === 0 && !this.#dirty && !rep.changed) return rep;
    this.#dirty = false;
    // A changed view can admit more (a token split off space whose takeover this pass applied):
    // follow again until it settles, counting refusals once.
    for (let i = 0; i < 8 && this.#recompute(i === 0 ? fresh : new Set(), rep); i++) {
      rep.changed = true;
    }
    return rep;
  }

  /**
   * Hands [from, to) over from `self` to `recipient`, signed by `self`. `self` must own all of it
   * (checked): the only way ownership moves besides `takeover`.
   */
  transfer(self: PeerName, recipient: PeerName, from: number, to: number): void {
    this.#needAuth(self);
    if (!(to > from) || from < this.start || to > this.end) throw new Error("bad transfer bounds");
    for (let ip = from; ip < to;) {
      const i = this.#indexAtOrBefore(ip);
      const e = this.#entries[i];
      const segEnd = i + 1 < this.#entries.length ? this.#entries[i + 1].start : this.end;
      if (e.owner !== self) throw new Error(`transfer of space not owned by ${self}`);
      if (e.start >= from && e.version >= MAX_VERSION) {
        throw new Error(`token ${e.start} has reached the highest version`);
      }
      ip = segEnd;
    }
    this.#split(to, self);
    this.#split(from, self);
    this.#rewrite((e) => e.start >= from && e.start < to, recipient, false, self);
  }

  /** rmpeer: `self` takes every token of `dead`, signed. Returns how many addresses moved. */
  takeover(self: PeerName, dead: PeerName): number {
    this.#needAuth(self);
    let n = 0;
    for (const s of this.segments()) if (s.owner === dead) n += s.end - s.start;
    this.#rewrite((e) => e.owner === dead && e.version < MAX_VERSION, self, true, self);
    return n;
  }

  /** Signs this peer's own tokens that carry no signature (a ring of format 1 from disk). */
  resignOwn(self: PeerName): boolean {
    const auth = this.#needAuth();
    let changed = false;
    this.#entries = this.#entries.map((e) => {
      if (e.owner !== self || e.sig !== "" || this.#isGenesis(e)) return e;
      changed = true;
      const { sig: _, ...body } = e;
      const next = signEntry(auth, this.#scope, { ...body, author: self });
      this.#links.store(next);
      return next;
    });
    return changed;
  }

  // ---- internals -----------------------------------------------------------------------------

  #isGenesis(e: Entry): boolean {
    return e.version === 0 && !e.takeover && e.author === e.owner &&
      this.#genesis.get(e.start) === e.owner;
  }

  #needAuth(self?: PeerName): RingAuth {
    if (!this.#auth) throw new Error("this ring cannot sign or check tokens (no RingAuth)");
    if (self !== undefined && self !== this.#auth.self) {
      throw new Error(`this ring signs as ${this.#auth.self}, not as ${self}`);
    }
    return this.#auth;
  }

  #adoptSeed(seed: string): void {
    if (this.#seed !== null) {
      if (seed !== this.#seed) throw new RingConflictError(`a second seed for this ring: ${seed}`);
      return;
    }
    let genesis: Entry[];
    try {
      genesis = seedEntries(this.start, this.end, seedMembers(seed));
    } catch (e) {
      throw new RingConflictError(`cannot build the initial split from seed: ${describeCause(e)}`);
    }
    this.#seed = seed;
    this.#scope = ringScope(this.start, this.end, seed);
    this.#members = new Set(seedMembers(seed));
    this.#genesis = new Map(genesis.map((e) => [e.start, e.owner]));
    if (this.#entries.length === 0) this.#entries = genesis.map((e) => ({ ...e }));
    for (const g of genesis) this.#links.store(g);
  }

  #rewrite(which: (e: Entry) => boolean, owner: PeerName, takeover: boolean, self: PeerName) {
    const auth = this.#needAuth();
    this.#entries = this.#entries.map((e) => {
      if (!which(e)) return e;
      const next = signEntry(auth, this.#scope, {
        start: e.start,
        owner,
        version: e.version + 1,
        takeover,
        author: self,
      });
      this.#links.store(next);
      return next;
    });
  }

  /** Ensures a token starts at `at` (inheriting the owner, `self`), signed by `self`. */
  #split(at: number, self: PeerName): void {
    if (at >= this.end) return;
    const i = this.#indexAtOrBefore(at);
    const cur = this.#entries[i];
    if (cur.start === at) return;
    // A new token: nobody else can have created one here, since only the owner of the enclosing
    // segment creates tokens inside it. Version 0 of it is the first state ever.
    const e = signEntry(this.#needAuth(), this.#scope, {
      start: at,
      owner: cur.owner,
      version: 0,
      takeover: false,
      author: self,
    });
    this.#entries.splice(i + 1, 0, e);
    this.#links.store(e);
  }

  /** The token's current state, if it is in this view. */
  #at(start: number): Entry | undefined {
    const i = this.#indexAtOrBefore(start);
    return i >= 0 && this.#entries[i].start === start ? this.#entries[i] : undefined;
  }

  #mayAuthor(e: Entry): boolean {
    if (e.takeover) return e.author === e.owner && this.mayTakeOver(e.author);
    // A member that may take space over may have moved on a token it took over (its later state
    // replaces its takeover): followed only while the owner is unreachable (links.ts walk).
    return this.#links.hasSay(this.#view, e.start, e.author) || this.mayTakeOver(e.author);
  }

  /** Follows every token's chain from this view; returns true when the view changed. */
  #recompute(fresh: Set<Entry>, rep: MergeReport): boolean {
    const auth = this.#needAuth();
    const starts = [...new Set([...this.#entries.map((e) => e.start), ...this.#links.starts()])]
      .sort((a, b) => a - b);
    const before = this.#entries;
    const out: Entry[] = [];
    for (const s of starts) {
      const ls = this.#links.get(s);
      // A token new to this view: its first state must come from someone with a say over the
      // space it was split from.
      const cur = this.#at(s) ?? (ls ? firstState(ls, this.#links.say(this.#view, s)) : null);
      if (cur) out.push(walk(cur, ls, auth, fresh, rep));
    }
    this.#entries = out;
    return out.length !== before.length || out.some((e, i) => !sameEntry(e, before[i]));
  }

  #indexAtOrBefore(ip: number): number {
    return indexAtOrBefore(this.#entries, ip);
  }
}
