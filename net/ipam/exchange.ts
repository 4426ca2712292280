/**
 * The IPAM peer protocol on the "ipam" gossip channel: merging peers' rings, the initial
 * consensus, free-space hints, and space requests and donations between peers. Pure: time,
 * randomness, the channel and this peer's allocations come in through `ExchangeHost`.
 */
import type { GossipChannel, PeerInfo } from "../mesh/gossip_channel.ts";
import { donationFrom, type Span } from "./allocations.ts";
import { acceptorBytes, Paxos, type RecordAuth } from "./paxos.ts";
import { PAXOS_DOMAIN, type RingAuth, sigFromText, sigToText } from "./token.ts";
import { type MergeLimit, type MergeReport, RingConflictError } from "./ring.ts";
import type { Ring, RingState } from "./ring.ts";
import { RingSlices, type SliceOptions } from "./ring_slices.ts";
import type { ConflictKind, InitMode, PeerName } from "./types.ts";
import type { PaxosState } from "./paxos.ts";
import {
  decodeGossip,
  decodeUnicast,
  encodeGossip,
  encodeUnicast,
  type Gossip,
  IPAM_WIRE_VERSION,
  MAX_RING_ENTRIES,
  type Unicast,
} from "./wire.ts";

/** What the exchange needs from the allocator it serves. */
export interface ExchangeHost {
  readonly self: PeerName;
  /** This peer's key and its peers' keys: consensus records are signed by their participant. */
  readonly auth: RingAuth;
  readonly ring: Ring;
  readonly rangeText: string;
  now(): number;
  random(): number;
  /** Persists ring and consensus records (before anything that depends on them is sent). */
  saveMeta(): void;
  /** Unallocated runs of this peer's space within [lo, hi). */
  freeRanges(lo: number, hi: number): Span[];
  /** How many addresses this peer could still allocate. */
  ownFree(): number;
  peers(): ReadonlyMap<PeerName, PeerInfo>;
  /** What a merge of a peer's ring kept, refused and found (after it is saved). */
  merged(report: MergeReport): void;
  conflict(kind: ConflictKind, subject: string, message: string): void;
  conflictOver(kind: ConflictKind, subject: string): void;
  label(name: PeerName): string;
}

export interface ExchangeOptions extends SliceOptions {
  init: InitMode;
  restoredPaxos: PaxosState | null;
  /** How long a space request may go unanswered before asking another peer. */
  requestTimeoutMs?: number;
  /** Minimum interval between gossiped free-space hints. */
  hintIntervalMs?: number;
  paxosRetryMs?: number;
}

export class Exchange {
  readonly #h: ExchangeHost;
  readonly #o: ExchangeOptions;
  readonly #paxos: Paxos | null;
  #channel: GossipChannel | null = null;
  /** Peers' free-space hints: name → [stamp, free]. */
  readonly #free = new Map<PeerName, [number, number]>();
  #lastHint = { at: -Infinity, free: -1 };
  #request: { to: PeerName; at: number } | null = null;
  readonly #emptyUntil = new Map<PeerName, number>();
  readonly #slices: RingSlices;

  constructor(host: ExchangeHost, opts: ExchangeOptions) {
    this.#h = host;
    this.#o = opts;
    this.#slices = new RingSlices(opts, {
      merge: (ring, from, limit) => this.#mergeRing(ring, from, limit),
      broadcast: () => this.broadcast(),
    });
    const ring = host.ring;
    this.#paxos = !ring.initialised && opts.init.kind === "consensus"
      ? new Paxos(
        host.self,
        opts.init.expected,
        opts.restoredPaxos,
        opts.paxosRetryMs,
        recordAuth(host.auth, host.rangeText),
      )
      : null;
  }

  attach(channel: GossipChannel): void {
    this.#channel = channel;
  }

  /** Why allocation cannot proceed yet, or null when the ring is initialised. */
  notReadyReason(): string | null {
    if (this.#h.ring.initialised) return null;
    if (this.#paxos) {
      return `waiting for consensus (known ${this.#paxos.known()} of ${this.#paxos.quorum})`;
    }
    if (this.#o.init.kind === "observer") {
      return "waiting for a peer that owns IP space (this peer is an observer)";
    }
    return "waiting for the IP range to be initialised";
  }

  paxosState(): PaxosState | null {
    return this.#paxos?.state() ?? null;
  }

  /** A space request is outstanding towards this peer. */
  askedFor(): PeerName | null {
    return this.#request?.to ?? null;
  }

  /** The dead peer's hint goes with its space (rmpeer). */
  forget(name: PeerName): void {
    this.#free.delete(name);
  }

  fullState(): Uint8Array {
    return encodeGossip(this.#gossip());
  }

  broadcast(): void {
    this.#channel?.broadcast(this.fullState());
  }

  /**
   * `from` is the message's source as the mesh authenticated it (the neighbour, or a broadcast's
   * signed source).
   */
  onGossip(from: PeerName, data: Uint8Array): Uint8Array | null {
    const limit = this.#slices.limit();
    const r = this.#merge(decodeGossip(data), from, limit);
    // Only a hint was new: it travels in its own peer's broadcast (hints count only from their
    // peer), so there is nothing to pass on.
    return r.state ? this.fullState() : null;
  }

  onUnicast(from: PeerName, data: Uint8Array): void {
    const m: Unicast = decodeUnicast(data);
    if (m.t === "req") this.#donate(from, m.start, m.end);
    else if (m.t === "give") {
      if (this.#request?.to === from) this.#request = null;
      // Pass it on: the donor's broadcast may not reach everyone this unicast reached.
      const r = this.#merge(m.state, from, this.#slices.limit());
      if (r.state) this.broadcast();
    } else if (m.t === "none") {
      if (this.#request?.to === from) this.#request = null;
      this.#emptyUntil.set(from, this.#h.now() + 2 * this.#requestTimeout());
    }
  }

  /** Periodic work: consensus retries, space-request timeouts, free-space hints. */
  tick(): void {
    const now = this.#h.now();
    if (this.#paxos && !this.#h.ring.initialised) this.#stepPaxos();
    if (this.#request && now - this.#request.at >= this.#requestTimeout()) this.#request = null;
    if (
      this.#h.ring.initialised && this.#h.ownFree() !== this.#lastHint.free &&
      now - this.#lastHint.at >= (this.#o.hintIntervalMs ?? 1000)
    ) {
      this.#refreshOwnHint();
      this.#channel?.broadcast(this.#hintMessage([this.#h.self]));
    }
  }

  /**
   * Asks a reachable peer that owns space in [lo, hi) to donate some (chosen at random, weighted
   * by its free space). Returns why the caller has to wait.
   */
  askForSpace(lo: number, hi: number): string {
    const h = this.#h, now = h.now(), peers = h.peers();
    const owners = new Map<PeerName, number>();
    for (const s of h.ring.segments()) {
      const n = Math.min(s.end, hi) - Math.max(s.start, lo);
      if (n > 0 && s.owner !== h.self) owners.set(s.owner, (owners.get(s.owner) ?? 0) + n);
    }
    const reachable = [...owners.keys()].filter((p) => peers.get(p)?.reachable);
    if (owners.size > 0 && reachable.length === 0) {
      return "all IP ranges owned by unreachable peers - use 'weavets rmpeer' if they are dead";
    }
    if (this.#request) return `no free address here; asked ${h.label(this.#request.to)} for space`;
    const candidates = reachable
      .filter((p) => (this.#emptyUntil.get(p) ?? 0) <= now)
      .map((p) => ({ p, w: this.#free.get(p)?.[1] ?? owners.get(p)! }))
      .filter((c) => c.w > 0);
    const total = candidates.reduce((n, c) => n + c.w, 0);
    if (total === 0) return "no free addresses left in the range";
    let x = h.random() * total;
    let pick = candidates[candidates.length - 1].p;
    for (const c of candidates) {
      if ((x -= c.w) < 0) {
        pick = c.p;
        break;
      }
    }
    const whole = lo === h.ring.start && hi === h.ring.end;
    const req: Unicast = whole ? { t: "req" } : { t: "req", start: lo, end: hi };
    if (this.#channel?.unicast(pick, encodeUnicast(req))) this.#request = { to: pick, at: now };
    return `no free address here; asked ${h.label(pick)} for space`;
  }

  /** A new stamp only for a new value: re-sent state must not look new (gossip would storm). */
  #refreshOwnHint(): void {
    if (!this.#h.ring.initialised) return;
    const free = this.#h.ownFree();
    if (free === this.#lastHint.free) return;
    const at = Math.max(this.#h.now(), this.#lastHint.at + 1);
    this.#lastHint = { at, free };
    this.#free.set(this.#h.self, [at, free]);
  }

  /** Gossip carrying only some peers' free-space hints (cheap: no ring). */
  #hintMessage(names: PeerName[]): Uint8Array {
    const free: Record<string, [number, number]> = {};
    for (const n of names) {
      const hint = this.#free.get(n);
      if (hint) free[n] = hint;
    }
    return encodeGossip({ v: IPAM_WIRE_VERSION, range: this.#h.rangeText, free });
  }

  #gossip(): Gossip {
    this.#refreshOwnHint();
    const g: Gossip = {
      v: IPAM_WIRE_VERSION,
      range: this.#h.rangeText,
      free: Object.fromEntries(this.#free),
    };
    const ring = this.#h.ring.state();
    if (ring) g.ring = ring;
    else if (this.#paxos) g.paxos = this.#paxos.state();
    return g;
  }

  /**
   * Joins a peer's gossip; says whether ring/consensus state changed and which hints were new.
   * A free-space hint counts only from its own peer: hints are not signed, and one relayed or
   * forged for another peer (a 0 with a far-future stamp) would stop everyone asking it for space.
   */
  #merge(g: Gossip, from: PeerName, limit: MergeLimit): { state: boolean; hints: PeerName[] } {
    const h = this.#h;
    if (g.range !== h.rangeText) {
      throw new Error(`peer uses IP range ${g.range}, this peer ${h.rangeText}`);
    }
    let changed = false;
    const hints: PeerName[] = [];
    for (const [name, hint] of Object.entries(g.free)) {
      if (name === h.self || name !== from) continue;
      const cur = this.#free.get(name);
      if (!cur || hint[0] > cur[0]) {
        this.#free.set(name, hint);
        hints.push(name);
      }
    }
    if (g.ring) changed = this.#mergeRing(g.ring, from, limit);
    else if (g.paxos && this.#paxos && !h.ring.initialised) {
      const before = { ...this.#paxos.refused };
      if (this.#paxos.merge(g.paxos, limit)) changed = true;
      const refused: MergeReport["refused"] = {};
      for (const k of ["bad-signature", "unknown-author"] as const) {
        const n = this.#paxos.refused[k] - before[k];
        if (n > 0) refused[k] = n;
      }
      h.merged({ changed: false, refused, takenFromSelf: [], deferred: 0 });
      if (this.#stepPaxos()) changed = true;
    }
    return { state: changed, hints };
  }

  /** Merges a ring within `limit`; keeps what did not fit for a deferred slice. */
  #mergeRing(ring: RingState, from: PeerName, limit: MergeLimit): boolean {
    const h = this.#h;
    let report: MergeReport;
    try {
      report = h.ring.merge(ring, from, limit);
    } catch (e) {
      if (e instanceof RingConflictError) h.conflict("foreign-ring", ring.seed, e.message);
      throw e;
    }
    if (report.changed) h.saveMeta();
    h.merged(report);
    this.#slices.keep(ring.seed, report.rest, from);
    return report.changed;
  }

  /** Advances consensus; on a decision builds the ring. Returns true when own state changed. */
  #stepPaxos(): boolean {
    const p = this.#paxos!, h = this.#h;
    let changed = false;
    // A few local steps at once: this peer's own promise/accept need no round trip.
    for (let i = 0; i < 3; i++) {
      const r = p.step(h.now());
      if (r.error) h.conflict("consensus", h.self, r.error);
      if (!r.changed) break;
      changed = true;
    }
    const decided = p.decided();
    if (decided) {
      h.conflictOver("consensus", h.self);
      h.ring.seedWith(decided);
      h.saveMeta();
      this.broadcast();
      return true;
    }
    if (changed) {
      h.saveMeta();
      this.broadcast();
    }
    return changed;
  }

  #donate(to: PeerName, lo?: number, hi?: number): void {
    const h = this.#h;
    const send = (m: Unicast) => this.#channel?.unicast(to, encodeUnicast(m));
    // A donation adds up to two tokens: a ring longer than peers take (wire.ts) would not travel.
    const full = h.ring.entries().length + 2 > MAX_RING_ENTRIES;
    if (!h.ring.initialised || to === h.self || full) return void send({ t: "none" });
    const b = lo !== undefined && hi !== undefined
      ? { lo: Math.max(lo, h.ring.start), hi: Math.min(hi, h.ring.end) }
      : { lo: h.ring.start, hi: h.ring.end };
    const give = donationFrom(h.freeRanges(b.lo, b.hi));
    if (!give) return void send({ t: "none" });
    h.ring.transfer(h.self, to, give.start, give.end);
    h.saveMeta();
    this.broadcast();
    send({ t: "give", state: this.#gossip() });
  }

  #requestTimeout(): number {
    return this.#o.requestTimeoutMs ?? 1000;
  }
}

/** Consensus records signed by their participant under PAXOS_DOMAIN, scoped to the range. */
function recordAuth(auth: RingAuth, range: string): RecordAuth {
  return {
    sign: (name, rec) => sigToText(auth.sign(acceptorBytes(range, name, rec), PAXOS_DOMAIN)),
    check: (name, rec) =>
      rec.sig === undefined
        ? "invalid"
        : auth.verify(name, acceptorBytes(range, name, rec), sigFromText(rec.sig), PAXOS_DOMAIN),
  };
}
