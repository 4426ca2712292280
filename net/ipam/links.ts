/**
 * The signed token states a ring keeps ("links": per token, the latest state each author signed)
 * and the rules for following them (docs/PROTOCOL.md §9). Pure: reachability comes in as a
 * function, signatures come in through `keepSigned`'s context (ring.ts gives its RingAuth).
 */
import type { SignatureCheck } from "../mesh/gossip_channel.ts";
import {
  type Entry,
  entryOrder,
  MAX_STEP,
  MAX_VERIFY_PER_MERGE,
  MAX_VERSION,
  type PeerName,
} from "./token.ts";

/** Why a received token state was not kept or not applied (a counter each). */
export type Refusal =
  | "bad-signature"
  | "unknown-author"
  | "not-owner"
  | "live-owner"
  | "own-space"
  | "version-jump"
  | "version-cap"
  | "outside-range"
  | "store-full";

/**
 * Token states kept at most, over all tokens and authors: what one list of an IPAM message may
 * carry (wire.ts MAX_RING_ENTRIES; links_test checks they agree). This peer sends and persists its
 * ring with the states it keeps, so a store past it would make every peer refuse its messages and
 * its own data dir unreadable at the next start. A received state that would be one more is
 * refused ("store-full", counted and logged like every refusal); one replacing an author's state of
 * a token it already holds still comes in. A 2,000-peer ring keeps ~10,000; only a forger (a member
 * splitting its space into made-up tokens) gets near it.
 */
export const MAX_KEPT_STATES = 1 << 15;

export interface MergeReport {
  changed: boolean;
  refused: Partial<Record<Refusal, number>>;
  /** Members whose signed takeover of this peer's own space was refused (rmpeer while away?). */
  takenFromSelf: PeerName[];
  /** States left unchecked when the merge's signature budget ran out (they come again). */
  deferred: number;
  /** Those states, to merge in a later slice (each slice checks one at least: it ends). */
  rest?: Entry[];
}

/**
 * How much one merge may check: `maxChecks` signatures at most (default MAX_VERIFY_PER_MERGE),
 * and no more once `stop()` says so (a time budget), after one at least.
 */
export interface MergeLimit {
  maxChecks?: number;
  stop?: () => boolean;
}

export function refuse(rep: MergeReport, r: Refusal, n = 1): void {
  rep.refused[r] = (rep.refused[r] ?? 0) + n;
}

/**
 * The received states worth checking: inside the range, under the version cap, signed (or a
 * state of the initial split, which needs no signature), and not already kept. Refusals are
 * counted in `rep`.
 */
export function admissible(
  other: { entries: Entry[]; links?: Entry[] },
  range: { start: number; end: number },
  links: LinkStore,
  isGenesis: (e: Entry) => boolean,
  rep: MergeReport,
): Entry[] {
  const out: Entry[] = [];
  const all = [...other.entries, ...(other.links ?? [])];
  // The room is counted only when the message could fill it (the strings cost ~ms per 32,768).
  const adds = links.size + all.length >= MAX_KEPT_STATES ? new Set<string>() : null;
  for (const e of all) {
    if (e.start < range.start || e.start >= range.end) refuse(rep, "outside-range");
    else if (e.version > MAX_VERSION) refuse(rep, "version-cap");
    else if (e.sig === "") {
      if (!isGenesis(e)) refuse(rep, "bad-signature");
    } else if (!links.has(e)) {
      if (adds && !links.holds(e)) {
        const key = `${e.start} ${e.author}`;
        if (!adds.has(key) && links.size + adds.size >= MAX_KEPT_STATES) {
          refuse(rep, "store-full");
          continue;
        }
        adds.add(key);
      }
      out.push(e);
    }
  }
  return out;
}

/** What `keepSigned` reads and changes of the ring. */
export interface KeepContext {
  links: LinkStore;
  /** May `e`'s author sign it, from what is kept so far (it changes as states are kept). */
  mayAuthor(e: Entry): boolean;
  /** The version of the token at `start` in the ring's view (0: not in it). */
  versionHeld(start: number): number;
  verify(e: Entry): SignatureCheck;
}

/**
 * Keeps the admissible states that someone with a say over their token signed, checking each
 * signature once, within `limit`. A kept state can name a new owner who may sign the next one,
 * so it goes round until nothing more is kept. Returns the states kept; refusals, `changed`,
 * the states left for a later slice (`rest`) and their number (`deferred`) go in `rep`.
 */
export function keepSigned(
  admitted: Entry[],
  ctx: KeepContext,
  limit: MergeLimit,
  rep: MergeReport,
): Set<Entry> {
  let pending = admitted;
  const fresh = new Set<Entry>();
  let budget = limit.maxChecks ?? MAX_VERIFY_PER_MERGE, checked = 0;
  const rest: Entry[] = (rep.rest = []);
  for (let progress = true, pass = 0; progress && pending.length > 0 && pass < 64; pass++) {
    progress = false;
    const later: Entry[] = [];
    for (const e of pending) {
      if (!ctx.mayAuthor(e)) {
        later.push(e);
        continue;
      }
      if (ctx.links.has(e)) continue;
      if (e.version > ctx.versionHeld(e.start) + MAX_STEP) {
        // Not kept: a kept state that can never apply would hide the author's real next one.
        refuse(rep, "version-jump");
        continue;
      }
      if (budget-- <= 0 || (checked++ > 0 && limit.stop?.())) {
        budget = -1;
        rest.push(e);
        continue;
      }
      const check = ctx.verify(e);
      if (check !== "valid") {
        refuse(rep, check === "invalid" ? "bad-signature" : "unknown-author");
        continue;
      }
      const kept = { ...e };
      if (!ctx.links.store(kept)) {
        // Full since admissible() looked (states kept by another slice meanwhile).
        refuse(rep, "store-full");
        continue;
      }
      fresh.add(kept);
      rep.changed = true;
      progress = true;
    }
    pending = later;
  }
  if (budget < 0) rest.push(...pending);
  else if (pending.length > 0) refuse(rep, "not-owner", pending.length);
  rep.deferred = rest.length;
  return fresh;
}

/** The ring's current view, as the chain rules read it. */
export interface View {
  /** The token's current state, if the view has it. */
  at(start: number): Entry | undefined;
  /** The start of the view's nearest token before `start`, if any. */
  before(start: number): number | null;
}

export class LinkStore {
  readonly #links = new Map<number, Map<PeerName, Entry>>();
  /** The keys of #links, sorted. */
  readonly #starts: number[] = [];
  #size = 0;

  get(start: number): Map<PeerName, Entry> | undefined {
    return this.#links.get(start);
  }

  starts(): readonly number[] {
    return this.#starts;
  }

  *all(): IterableIterator<Entry> {
    for (const m of this.#links.values()) yield* m.values();
  }

  /** How many states are kept (one per token and author). */
  get size(): number {
    return this.#size;
  }

  /**
   * Keeps `e` as its author's state of its token. False, keeping nothing, when that would be one
   * more than MAX_KEPT_STATES (received states were refused before: admissible; this peer's own
   * then live in the ring's view only, which is what it sends them from).
   */
  store(e: Entry): boolean {
    let m = this.#links.get(e.start);
    if (!m?.has(e.author)) {
      if (this.#size >= MAX_KEPT_STATES) return false;
      this.#size++;
    }
    if (!m) {
      this.#links.set(e.start, m = new Map());
      this.#starts.splice(this.#below(e.start), 0, e.start);
    }
    m.set(e.author, e);
    return true;
  }

  /** Some state of this author for the token is kept (storing `e` replaces it: no growth). */
  holds(e: Entry): boolean {
    return this.#links.get(e.start)?.has(e.author) ?? false;
  }

  /** This author's state for the token is already kept, or a newer one. */
  has(e: Entry): boolean {
    const have = this.#links.get(e.start)?.get(e.author);
    return have !== undefined && entryOrder(e, have) <= 0;
  }

  /**
   * Peers with a say over a token: its owners and the authors of its owner-made states. A token
   * the view lacks (a split it has not seen) takes those of the tokens before it (`say`).
   */
  known(view: View, start: number): Set<PeerName> {
    const out = this.knownAt(view, start);
    return out.size > 0 ? out : this.say(view, start);
  }

  /** `known(view, start).has(peer)`, without building the sets (this runs for every state). */
  hasSay(view: View, start: number, peer: PeerName): boolean {
    const at = this.#saysAt(view, start, peer);
    if (at !== "none") return at === "yes";
    for (let s = start, hops = 0; hops < 64; hops++) {
      const p = this.#enclosing(view, s);
      if (p === null) return false;
      if (this.#saysAt(view, p, peer) === "yes") return true;
      if (view.at(p)) return false;
      s = p;
    }
    return false;
  }

  /** Whether `peer` is among the token's own known peers; "none" when it has none. */
  #saysAt(view: View, start: number, peer: PeerName): "yes" | "no" | "none" {
    const cur = view.at(start);
    let any = cur !== undefined;
    if (cur && (cur.owner === peer || cur.author === peer)) return "yes";
    for (const l of this.#links.get(start)?.values() ?? []) {
      if (l.takeover) continue;
      any = true;
      if (l.owner === peer || l.author === peer) return "yes";
    }
    return any ? "no" : "none";
  }

  knownAt(view: View, start: number, out = new Set<PeerName>()): Set<PeerName> {
    const cur = view.at(start);
    if (cur) out.add(cur.owner).add(cur.author);
    for (const l of this.#links.get(start)?.values() ?? []) {
      if (!l.takeover) out.add(l.owner).add(l.author);
    }
    return out;
  }

  /**
   * Who may create a token at `start` that the view lacks: whoever had a say over the tokens
   * before it, back to the first one the view already held (splits made after it, by later
   * owners of the same space, may sit in between).
   */
  say(view: View, start: number): Set<PeerName> {
    const out = new Set<PeerName>();
    for (let s = start, hops = 0; hops < 64; hops++) {
      const p = this.#enclosing(view, s);
      if (p === null) break;
      this.knownAt(view, p, out);
      if (view.at(p)) break;
      s = p;
    }
    return out;
  }

  /** The nearest token before `start` in the view or among kept states (a split not yet seen). */
  #enclosing(view: View, start: number): number | null {
    const best = view.before(start);
    const i = this.#below(start);
    return i > 0 && (best === null || this.#starts[i - 1] > best) ? this.#starts[i - 1] : best;
  }

  /** How many kept token starts lie below `start`. */
  #below(start: number): number {
    const ks = this.#starts;
    let lo = 0, hi = ks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ks[mid] < start) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The first state of a token new to the view: the highest one signed by someone with a say. */
export function firstState(ls: Map<PeerName, Entry>, say: Set<PeerName>): Entry | null {
  let cur: Entry | null = null;
  for (const l of ls.values()) {
    if (!l.takeover && say.has(l.author) && (!cur || entryOrder(l, cur) > 0)) cur = l;
  }
  return cur;
}

/**
 * From `cur`, the latest state reachable by the signatures of those entitled to sign it: the
 * owner's own next state; a takeover only while the owner is unreachable and never of this
 * peer's own space; an owner-made state of the same version over a takeover. Refusals of states
 * kept by this merge (`fresh`) are counted in `rep`.
 */
export function walk(
  cur: Entry,
  ls: Map<PeerName, Entry> | undefined,
  peer: { self: PeerName; reachable(p: PeerName): boolean },
  fresh: Set<Entry>,
  rep: MergeReport,
): Entry {
  if (!ls) return cur;
  for (;;) {
    const candidates: Entry[] = [];
    const own = ls.get(cur.owner);
    if (own) candidates.push(own);
    for (const l of ls.values()) {
      if (l.author === cur.owner || entryOrder(l, cur) <= 0) continue;
      if (l.takeover) {
        if (cur.owner === peer.self) {
          if (fresh.has(l)) {
            rep.takenFromSelf.push(l.author);
            refuse(rep, "own-space");
          }
        } else if (peer.reachable(cur.owner)) {
          if (fresh.has(l)) refuse(rep, "live-owner");
        } else candidates.push(l);
      } else if (cur.takeover && l.version === cur.version) {
        // The peer taken over had donated it first (owner-made wins over takeover); its author
        // had a say over the token, or the state would not be kept.
        candidates.push(l);
      } else if (cur.owner !== peer.self && !peer.reachable(cur.owner)) {
        // A member's later state of a token whose owner is unreachable: it took the token over
        // and then moved it on, and the store keeps only its latest state, so the takeover it
        // follows from is gone. It may do no more than a takeover may (never this peer's space).
        candidates.push(l);
      }
    }
    let next: Entry = cur;
    for (const l of candidates) if (entryOrder(l, next) > 0) next = l;
    if (next === cur) return cur;
    if (next.version - cur.version > MAX_STEP) {
      if (fresh.has(next)) refuse(rep, "version-jump");
      return cur;
    }
    cur = next;
  }
}
