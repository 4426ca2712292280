/**
 * One peer's IPAM: the ring (who owns what), the initial agreement, this peer's allocations, and
 * space requests/donations between peers. Pure: no I/O — time, randomness, the gossip channel and
 * persistence come in through `AllocatorOptions`, so the same code runs in the daemon and in the
 * simulated cluster of the property tests.
 *
 * Rules that keep it safe:
 * - This peer allocates only inside segments it owns in its own ring view (see ring.ts for why no
 *   other peer can believe it owns them).
 * - Every change is persisted (`persist`) before anything that depends on it is sent or answered.
 */
import type { Cidr } from "../addr/mod.ts";
import { broadcastOf, cidrSize, formatCidr, formatIPv4, networkOf } from "../addr/mod.ts";
import type { GossipChannel, Gossiper, PeerInfo } from "../mesh/gossip_channel.ts";
import { Paxos } from "./paxos.ts";
import { type PeerName, Ring } from "./ring.ts";
import {
  decodeGossip,
  decodeUnicast,
  encodeGossip,
  encodeUnicast,
  type Gossip,
  type PersistedMeta,
} from "./wire.ts";

export type InitMode =
  | { kind: "consensus"; expected: number }
  | { kind: "seed"; members: PeerName[] }
  | { kind: "observer" };

/** An allocation's key: the CNI attachment (container id, interface name). */
export interface AllocKey {
  id: string;
  ifname: string;
}

export interface Allocation extends AllocKey {
  ip: number;
}

/** Where changes go before they are visible to anyone (sqlite in the daemon, memory in tests). */
export interface Persistence {
  saveMeta(meta: PersistedMeta): void;
  putAllocation(a: Allocation): void;
  deleteAllocations(keys: AllocKey[]): void;
}

export interface AllocatorOptions {
  self: PeerName;
  range: Cidr;
  init: InitMode;
  persist: Persistence;
  now: () => number;
  random: () => number;
  /** State loaded from the store at start. */
  restored?: { meta: PersistedMeta; allocations: Allocation[] };
  /** How long a space request may go unanswered before asking another peer. */
  requestTimeoutMs?: number;
  /** Minimum interval between gossiped free-space hints. */
  hintIntervalMs?: number;
  paxosRetryMs?: number;
}

export type Outcome =
  | { ok: true; ip: number }
  | { ok: false; wait: string }
  | { ok: false; status: 400 | 404 | 409; error: string };

export type RmpeerOutcome =
  | { ok: true; taken: number; name: PeerName }
  | { ok: false; status: 404 | 409; error: string };

export interface Status {
  state: string;
  range: string;
  self: PeerName;
  allocated: number;
  peers: Array<{ name: PeerName; nickname: string; owned: number; reachable: boolean }>;
}

export function keyString(k: AllocKey): string {
  return `${k.id} ${k.ifname}`;
}

export class Allocator implements Gossiper {
  readonly self: PeerName;
  readonly range: Cidr;
  readonly rangeText: string;
  readonly ring: Ring;
  readonly #init: InitMode;
  readonly #opts: AllocatorOptions;
  #paxos: Paxos | null = null;
  #channel: GossipChannel | null = null;
  readonly #byKey = new Map<string, Allocation>();
  readonly #byIp = new Map<number, string>();
  readonly #free = new Map<PeerName, [number, number]>();
  #peers = new Map<PeerName, PeerInfo>();
  #request: { to: PeerName; at: number } | null = null;
  readonly #emptyUntil = new Map<PeerName, number>();
  #lastHint = { at: -Infinity, free: -1 };
  #hint = 0;
  #nextIp = 0;
  /** Errors worth surfacing (e.g. a conflicting ring from another cluster); the service logs. */
  readonly problems: string[] = [];

  constructor(opts: AllocatorOptions) {
    this.#opts = opts;
    this.self = opts.self;
    this.range = { ip: networkOf(opts.range), prefix: opts.range.prefix };
    this.rangeText = formatCidr(this.range);
    const start = this.range.ip;
    this.ring = new Ring(start, start + cidrSize(this.range));
    this.#init = opts.init;
    const r = opts.restored;
    if (r?.meta.ring) this.ring.merge(r.meta.ring);
    for (const a of r?.allocations ?? []) this.#record(a);
    if (!this.ring.initialised) {
      if (opts.init.kind === "seed") {
        this.ring.merge(Ring.seeded(this.ring.start, this.ring.end, opts.init.members).state()!);
        this.#saveMeta();
      } else if (opts.init.kind === "consensus") {
        this.#paxos = new Paxos(
          this.self,
          opts.init.expected,
          r?.meta.paxos ?? null,
          opts.paxosRetryMs,
        );
      }
    }
    this.#nextIp = this.ring.start;
  }

  /** The mesh channel to send on; set once the channel is registered. */
  attach(channel: GossipChannel): void {
    this.#channel = channel;
  }

  /** The mesh's current peers (reachability, nicknames). */
  setPeers(peers: PeerInfo[]): void {
    this.#peers = new Map(peers.map((p) => [p.name, p]));
  }

  get ready(): boolean {
    return this.ring.initialised;
  }

  allocations(): Allocation[] {
    return [...this.#byKey.values()];
  }

  lookup(key: AllocKey): Allocation | undefined {
    return this.#byKey.get(keyString(key));
  }

  /** Why allocation cannot proceed yet, or null when the ring is initialised. */
  notReadyReason(): string | null {
    if (this.ring.initialised) return null;
    if (this.#paxos) {
      return `waiting for consensus (known ${this.#paxos.known()} of ${this.#paxos.quorum})`;
    }
    if (this.#init.kind === "observer") {
      return "waiting for a peer that owns IP space (this peer is an observer)";
    }
    return "waiting for the IP range to be initialised";
  }

  // ---- allocation ----------------------------------------------------------------------------

  /** Allocates an address for `key` (idempotent), inside `subnet` when given. */
  allocate(key: AllocKey, subnet?: Cidr): Outcome {
    const bounds = subnet ? this.#subnetBounds(subnet) : this.#rangeBounds();
    if ("error" in bounds) return { ok: false, status: 400, error: bounds.error };
    const existing = this.#byKey.get(keyString(key));
    if (existing) {
      if (existing.ip >= bounds.lo && existing.ip < bounds.hi) return { ok: true, ip: existing.ip };
      return {
        ok: false,
        status: 409,
        error: `container ${key.id} (${key.ifname || "no ifname"}) already has ${
          formatIPv4(existing.ip)
        }, outside ${subnet ? formatCidr(subnet) : this.rangeText}`,
      };
    }
    const why = this.notReadyReason();
    if (why) return { ok: false, wait: why };
    const ip = this.#findFree(bounds.lo, bounds.hi, bounds.reserved);
    if (ip !== null) {
      this.#allocateAt(key, ip);
      return { ok: true, ip };
    }
    return { ok: false, wait: this.#askForSpace(bounds.lo, bounds.hi) };
  }

  /** Claims `ip` for `key`: ok when free in this peer's space or already held by `key`. */
  claim(key: AllocKey, ip: number): Outcome {
    const b = this.#rangeBounds();
    if (ip < b.lo || ip >= b.hi) {
      return { ok: false, status: 400, error: `${formatIPv4(ip)} is outside ${this.rangeText}` };
    }
    if (b.reserved.has(ip)) {
      return {
        ok: false,
        status: 400,
        error: `${formatIPv4(ip)} is the network or broadcast address of ${this.rangeText}`,
      };
    }
    const k = keyString(key);
    const holder = this.#byIp.get(ip);
    if (holder === k) return { ok: true, ip };
    if (holder !== undefined) {
      const h = this.#byKey.get(holder)!;
      return {
        ok: false,
        status: 409,
        error: `${formatIPv4(ip)} is already allocated to container ${h.id} (${
          h.ifname || "no ifname"
        })`,
      };
    }
    const mine = this.#byKey.get(k);
    if (mine) {
      return {
        ok: false,
        status: 409,
        error: `container ${key.id} (${key.ifname || "no ifname"}) already has ${
          formatIPv4(mine.ip)
        }; release it first`,
      };
    }
    const why = this.notReadyReason();
    if (why) return { ok: false, wait: why };
    const owner = this.ring.ownerOf(ip)!;
    if (owner !== this.self) {
      return {
        ok: false,
        status: 409,
        error: `${formatIPv4(ip)} is owned by peer ${this.#label(owner)}, not by this peer`,
      };
    }
    this.#allocateAt(key, ip);
    return { ok: true, ip };
  }

  /** Releases `key`; an unknown key is fine. Returns the released address, if any. */
  release(key: AllocKey): number | null {
    const a = this.#byKey.get(keyString(key));
    if (!a) return null;
    this.#opts.persist.deleteAllocations([key]);
    this.#forget(a);
    return a.ip;
  }

  /** Releases every allocation whose container id is not in `liveIds` nor its key in `liveKeys`. */
  releaseExcept(liveIds: Set<string>, liveKeys: Set<string>): Allocation[] {
    const dead = this.allocations().filter((a) =>
      !liveIds.has(a.id) && !liveKeys.has(keyString(a))
    );
    if (dead.length === 0) return [];
    this.#opts.persist.deleteAllocations(dead);
    for (const a of dead) this.#forget(a);
    return dead;
  }

  /** rmpeer: takes over the space of `name` (a peer name or nickname) when it is unreachable. */
  rmpeer(nameOrNick: string): RmpeerOutcome {
    const name = this.#resolve(nameOrNick);
    if (name === null) {
      return { ok: false, status: 404, error: `no peer named ${nameOrNick} is known to IPAM` };
    }
    if (name === this.self) {
      return { ok: false, status: 409, error: `refusing to remove this peer itself (${name})` };
    }
    if (this.#peers.get(name)?.reachable) {
      return {
        ok: false,
        status: 409,
        error: `peer ${this.#label(name)} is reachable: stop it before removing it`,
      };
    }
    if (!this.ring.initialised) return { ok: true, taken: 0, name };
    const taken = this.ring.takeover(this.self, name);
    if (taken > 0) {
      this.#saveMeta();
      this.#broadcast();
    }
    this.#free.delete(name);
    return { ok: true, taken, name };
  }

  // ---- gossip --------------------------------------------------------------------------------

  fullState(): Uint8Array {
    return encodeGossip(this.#gossip());
  }

  onGossip(_from: PeerName, data: Uint8Array): Uint8Array | null {
    const r = this.#mergeGossip(decodeGossip(data));
    if (r.state) return this.fullState();
    // Only free-space hints were new: pass on just those, not the whole ring.
    return r.hints.length > 0 ? this.#hintMessage(r.hints) : null;
  }

  onUnicast(from: PeerName, data: Uint8Array): void {
    const m = decodeUnicast(data);
    if (m.t === "req") this.#donate(from, m.start, m.end);
    else if (m.t === "give") {
      if (this.#request?.to === from) this.#request = null;
      // Pass it on: the donor's broadcast may not reach everyone this unicast reached.
      const r = this.#mergeGossip(m.state);
      if (r.state || r.hints.length > 0) this.#broadcast();
    } else if (m.t === "none") {
      if (this.#request?.to === from) this.#request = null;
      this.#emptyUntil.set(from, this.#opts.now() + 2 * this.#requestTimeout());
    }
  }

  /** Periodic work: consensus retries, space-request timeouts, free-space hints. */
  tick(): void {
    const now = this.#opts.now();
    if (this.#paxos && !this.ring.initialised) this.#stepPaxos();
    if (this.#request && now - this.#request.at >= this.#requestTimeout()) this.#request = null;
    if (
      this.ring.initialised && this.#ownFree() !== this.#lastHint.free &&
      now - this.#lastHint.at >= (this.#opts.hintIntervalMs ?? 1000)
    ) {
      this.#refreshOwnHint();
      this.#channel?.broadcast(this.#hintMessage([this.self]));
    }
  }

  status(): Status {
    const shares = this.ring.initialised ? this.ring.shares() : new Map<PeerName, number>();
    const names = new Set([...shares.keys(), ...this.#peers.keys()]);
    const peers = [...names].sort().map((name) => ({
      name,
      nickname: this.#peers.get(name)?.nickname ?? "",
      owned: shares.get(name) ?? 0,
      reachable: name === this.self || (this.#peers.get(name)?.reachable ?? false),
    }));
    return {
      state: this.notReadyReason() ?? "ready",
      range: this.rangeText,
      self: this.self,
      allocated: this.#byKey.size,
      peers,
    };
  }

  /** The persisted form of ring and consensus records. */
  meta(): PersistedMeta {
    return { ring: this.ring.state(), paxos: this.#paxos?.state() ?? null };
  }

  // ---- internals -----------------------------------------------------------------------------

  /** A new stamp only for a new value: re-sent state must not look new (gossip would storm). */
  #refreshOwnHint(): void {
    if (!this.ring.initialised) return;
    const free = this.#ownFree();
    if (free === this.#lastHint.free) return;
    const at = Math.max(this.#opts.now(), this.#lastHint.at + 1);
    this.#lastHint = { at, free };
    this.#free.set(this.self, [at, free]);
  }

  /** Gossip carrying only some peers' free-space hints (cheap: no ring). */
  #hintMessage(names: PeerName[]): Uint8Array {
    const free: Record<string, [number, number]> = {};
    for (const n of names) {
      const h = this.#free.get(n);
      if (h) free[n] = h;
    }
    return encodeGossip({ v: 1, range: this.rangeText, free });
  }

  #gossip(): Gossip {
    this.#refreshOwnHint();
    const g: Gossip = { v: 1, range: this.rangeText, free: Object.fromEntries(this.#free) };
    const ring = this.ring.state();
    if (ring) g.ring = ring;
    else if (this.#paxos) g.paxos = this.#paxos.state();
    return g;
  }

  #broadcast(): void {
    this.#channel?.broadcast(this.fullState());
  }

  /** Joins a peer's gossip; says whether ring/consensus state changed and which hints were new. */
  #mergeGossip(g: Gossip): { state: boolean; hints: PeerName[] } {
    if (g.range !== this.rangeText) {
      throw new Error(`peer uses IP range ${g.range}, this peer ${this.rangeText}`);
    }
    let changed = false;
    const hints: PeerName[] = [];
    for (const [name, hint] of Object.entries(g.free)) {
      if (name === this.self) continue;
      const cur = this.#free.get(name);
      if (!cur || hint[0] > cur[0]) {
        this.#free.set(name, hint);
        hints.push(name);
      }
    }
    if (g.ring) {
      const mineBefore = this.#ownedSize();
      try {
        if (this.ring.merge(g.ring)) {
          changed = true;
          this.#saveMeta();
          if (this.#ownedSize() < mineBefore) this.#dropLost();
        }
      } catch (e) {
        this.problems.push((e as Error).message);
        throw e;
      }
    } else if (g.paxos && this.#paxos && !this.ring.initialised) {
      if (this.#paxos.merge(g.paxos)) changed = true;
      if (this.#stepPaxos()) changed = true;
    }
    return { state: changed, hints };
  }

  /** Advances consensus; on a decision builds the ring. Returns true when own state changed. */
  #stepPaxos(): boolean {
    const p = this.#paxos!;
    let changed = false;
    // A few local steps at once: this peer's own promise/accept need no round trip.
    for (let i = 0; i < 3; i++) {
      const r = p.step(this.#opts.now());
      if (r.error && !this.problems.includes(r.error)) this.problems.push(r.error);
      if (!r.changed) break;
      changed = true;
    }
    const decided = p.decided();
    if (decided) {
      this.ring.merge(Ring.seeded(this.ring.start, this.ring.end, decided).state()!);
      this.#saveMeta();
      this.#broadcast();
      return true;
    }
    if (changed) {
      this.#saveMeta();
      this.#broadcast();
    }
    return changed;
  }

  /** After a takeover of this peer (it was rmpeer'd while away), allocations outside its space. */
  #dropLost(): void {
    const lost = this.allocations().filter((a) => this.ring.ownerOf(a.ip) !== this.self);
    if (lost.length === 0) return;
    this.problems.push(
      `this peer lost ${lost.length} allocated addresses to another peer (it was removed with ` +
        `rmpeer while away); they were released here`,
    );
    this.#opts.persist.deleteAllocations(lost);
    for (const a of lost) this.#forget(a);
  }

  #donate(to: PeerName, lo?: number, hi?: number): void {
    const send = (m: Parameters<typeof encodeUnicast>[0]) =>
      this.#channel?.unicast(to, encodeUnicast(m));
    if (!this.ring.initialised || to === this.self) return void send({ t: "none" });
    const b = lo !== undefined && hi !== undefined
      ? { lo: Math.max(lo, this.ring.start), hi: Math.min(hi, this.ring.end) }
      : { lo: this.ring.start, hi: this.ring.end };
    const gaps = this.#freeRanges(b.lo, b.hi, this.#rangeBounds().reserved);
    const total = gaps.reduce((n, g) => n + g.end - g.start, 0);
    if (total === 0) return void send({ t: "none" });
    const largest = gaps.reduce((x, g) => (g.end - g.start > x.end - x.start ? g : x));
    const n = Math.min(largest.end - largest.start, Math.max(1, Math.floor(total / 2)));
    this.ring.transfer(this.self, to, largest.end - n, largest.end);
    this.#saveMeta();
    this.#broadcast();
    send({ t: "give", state: this.#gossip() });
  }

  #askForSpace(lo: number, hi: number): string {
    const now = this.#opts.now();
    const owners = new Map<PeerName, number>();
    for (const s of this.ring.segments()) {
      const n = Math.min(s.end, hi) - Math.max(s.start, lo);
      if (n > 0 && s.owner !== this.self) owners.set(s.owner, (owners.get(s.owner) ?? 0) + n);
    }
    const reachable = [...owners.keys()].filter((p) => this.#peers.get(p)?.reachable);
    if (owners.size > 0 && reachable.length === 0) {
      return "all IP ranges owned by unreachable peers - use 'weavets rmpeer' if they are dead";
    }
    if (this.#request) {
      return `no free address here; asked ${this.#label(this.#request.to)} for space`;
    }
    const candidates = reachable
      .filter((p) => (this.#emptyUntil.get(p) ?? 0) <= now)
      .map((p) => ({ p, w: this.#free.get(p)?.[1] ?? owners.get(p)! }))
      .filter((c) => c.w > 0);
    const total = candidates.reduce((n, c) => n + c.w, 0);
    if (total === 0) return "no free addresses left in the range";
    let x = this.#opts.random() * total;
    let pick = candidates[candidates.length - 1].p;
    for (const c of candidates) {
      if ((x -= c.w) < 0) {
        pick = c.p;
        break;
      }
    }
    const req = lo === this.ring.start && hi === this.ring.end
      ? { t: "req" as const }
      : { t: "req" as const, start: lo, end: hi };
    if (this.#channel?.unicast(pick, encodeUnicast(req))) this.#request = { to: pick, at: now };
    return `no free address here; asked ${this.#label(pick)} for space`;
  }

  #allocateAt(key: AllocKey, ip: number): void {
    const a = { id: key.id, ifname: key.ifname, ip };
    this.#opts.persist.putAllocation(a);
    this.#record(a);
    this.#nextIp = ip + 1;
  }

  #record(a: Allocation): void {
    this.#byKey.set(keyString(a), a);
    this.#byIp.set(a.ip, keyString(a));
  }

  #forget(a: Allocation): void {
    this.#byKey.delete(keyString(a));
    this.#byIp.delete(a.ip);
  }

  /** First free owned address in [lo, hi), searching from just after the last allocation. */
  #findFree(lo: number, hi: number, reserved: Set<number>): number | null {
    const segs = this.ring.ownedBy(this.self)
      .map((s) => ({ start: Math.max(s.start, lo), end: Math.min(s.end, hi) }))
      .filter((s) => s.end > s.start);
    if (segs.length === 0) return null;
    // Two passes: from the cursor to the end, then from the start (addresses are reused last).
    for (const [from, to] of [[this.#nextIp, Infinity], [0, this.#nextIp]]) {
      for (const s of segs) {
        const a = Math.max(s.start, from), b = Math.min(s.end, to);
        for (let ip = a; ip < b; ip++) {
          if (!this.#byIp.has(ip) && !reserved.has(ip)) return ip;
        }
      }
    }
    return null;
  }

  /** Unallocated runs of owned addresses within [lo, hi). */
  #freeRanges(
    lo: number,
    hi: number,
    reserved: Set<number>,
  ): Array<{ start: number; end: number }> {
    const used = [...this.#byIp.keys(), ...reserved].sort((a, b) => a - b);
    const out: Array<{ start: number; end: number }> = [];
    for (const s of this.ring.ownedBy(this.self)) {
      let start = Math.max(s.start, lo);
      const end = Math.min(s.end, hi);
      if (end <= start) continue;
      let i = lowerBound(used, start);
      for (; i < used.length && used[i] < end; i++) {
        if (used[i] > start) out.push({ start, end: used[i] });
        start = used[i] + 1;
      }
      if (end > start) out.push({ start, end });
    }
    return out;
  }

  #ownedSize(): number {
    return this.ring.ownedBy(this.self).reduce((n, s) => n + s.end - s.start, 0);
  }

  #ownFree(): number {
    const reserved = this.#rangeBounds().reserved;
    let n = this.#ownedSize() - this.#byKey.size;
    for (const ip of reserved) if (this.ring.ownerOf(ip) === this.self) n--;
    return Math.max(0, n);
  }

  #rangeBounds() {
    return {
      lo: this.ring.start,
      hi: this.ring.end,
      reserved: reservedOf(this.range),
    };
  }

  #subnetBounds(c: Cidr): { lo: number; hi: number; reserved: Set<number> } | { error: string } {
    const lo = networkOf(c), hi = lo + cidrSize(c);
    if (c.prefix < this.range.prefix || lo < this.ring.start || hi > this.ring.end) {
      return { error: `subnet ${formatCidr(c)} is not inside the IP range ${this.rangeText}` };
    }
    return { lo, hi, reserved: new Set([...reservedOf(this.range), ...reservedOf(c)]) };
  }

  #resolve(nameOrNick: string): PeerName | null {
    const owners = new Set(this.ring.entries().map((e) => e.owner));
    if (owners.has(nameOrNick) || this.#peers.has(nameOrNick)) return nameOrNick;
    const byNick = [...this.#peers.values()].filter((p) => p.nickname === nameOrNick);
    return byNick.length === 1 ? byNick[0].name : null;
  }

  #label(name: PeerName): string {
    const nick = this.#peers.get(name)?.nickname;
    return nick ? `${name}(${nick})` : name;
  }

  #saveMeta(): void {
    this.#opts.persist.saveMeta(this.meta());
  }

  #requestTimeout(): number {
    return this.#opts.requestTimeoutMs ?? 1000;
  }
}

/** The network and broadcast addresses of a CIDR, which are never handed out (not for /31, /32). */
export function reservedOf(c: Cidr): Set<number> {
  return c.prefix >= 31 ? new Set() : new Set([networkOf(c), broadcastOf(c)]);
}

function lowerBound(a: number[], x: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
