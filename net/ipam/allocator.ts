/**
 * One peer's IPAM: the ring (who owns what), this peer's allocations, and the peer protocol that
 * agrees the initial split and moves space between peers (exchange.ts). Pure: no I/O — time,
 * randomness, the gossip channel and persistence come in through `AllocatorOptions`, so the same
 * code runs in the daemon and in the simulated cluster of the property tests.
 *
 * Rules that keep it safe:
 * - This peer allocates only inside segments it owns in its own ring view (see ring.ts for why no
 *   other peer can believe it owns them).
 * - Every change is persisted (`persist`) before anything that depends on it is sent or answered.
 */
import type { Cidr } from "../addr/mod.ts";
import { cidrSize, formatCidr, formatIPv4, networkOf } from "../addr/mod.ts";
import type { GossipChannel, Gossiper, MeshView, PeerInfo } from "../mesh/gossip_channel.ts";
import { AllocationTable, type Span } from "./allocations.ts";
import { claimOutside, heldElsewhere, rangeBounds, subnetBounds } from "./bounds.ts";
import { ConflictLog, lostSpaceMessage, outsideMessage } from "./conflicts.ts";
import { Exchange } from "./exchange.ts";
import type { SliceOptions } from "./ring_slices.ts";
import { type MergeReport, type Refusal, Ring } from "./ring.ts";
import { type RingAuth, TOKEN_DOMAIN } from "./token.ts";
import type {
  Allocation,
  AllocKey,
  Conflict,
  ConflictKind,
  InitMode,
  IpamStatus,
  Outcome,
  PeerName,
  Persistence,
  RmpeerOutcome,
} from "./types.ts";
import type { PersistedMeta } from "./wire.ts";

export interface AllocatorOptions {
  self: PeerName;
  range: Cidr;
  init: InitMode;
  persist: Persistence;
  /** This peer's signing key and its peers' keys (the mesh's): ring tokens are signed records. */
  signer: Pick<MeshView, "sign" | "verify">;
  now: () => number;
  random: () => number;
  /** State loaded from the store at start. */
  restored?: { meta: PersistedMeta; allocations: Allocation[] };
  /** Told once about each new conflict (the service logs it). */
  onConflict?: (c: Conflict) => void;
  /** Told about every merge that refused token states (the service logs it, rate-limited). */
  onRefused?: (refused: Partial<Record<Refusal, number>>) => void;
  /** How long a space request may go unanswered before asking another peer. */
  requestTimeoutMs?: number;
  /** Minimum interval between gossiped free-space hints. */
  hintIntervalMs?: number;
  paxosRetryMs?: number;
  /** How a received ring's signature checks are sliced (exchange.ts `defer`); none: per message. */
  slicing?: SliceOptions;
}

/** The allocator's part of the status view (the service adds what waits on it). */
export type AllocatorStatus = Omit<IpamStatus, "pendingAllocates" | "pendingClaims">;

export class Allocator implements Gossiper {
  readonly self: PeerName;
  readonly range: Cidr;
  readonly rangeText: string;
  readonly ring: Ring;
  readonly conflicts = new ConflictLog();
  /** Received token states refused, by reason (weavets_ipam_refused_tokens_total). */
  readonly refused = new Map<Refusal, number>();
  readonly #opts: AllocatorOptions;
  readonly #table = new AllocationTable();
  readonly #exchange: Exchange;
  #peers = new Map<PeerName, PeerInfo>();
  #nextIp: number;

  constructor(opts: AllocatorOptions) {
    this.#opts = opts;
    this.self = opts.self;
    this.range = { ip: networkOf(opts.range), prefix: opts.range.prefix };
    this.rangeText = formatCidr(this.range);
    const start = this.range.ip;
    this.ring = new Ring(start, start + cidrSize(this.range), this.#ringAuth());
    const r = opts.restored;
    if (r?.meta.ring) this.ring.restore(r.meta.ring);
    for (const a of r?.allocations ?? []) this.#table.record(a);
    this.#exchange = new Exchange(this.#host(), {
      init: opts.init,
      restoredPaxos: r?.meta.paxos ?? null,
      requestTimeoutMs: opts.requestTimeoutMs,
      hintIntervalMs: opts.hintIntervalMs,
      paxosRetryMs: opts.paxosRetryMs,
      ...opts.slicing,
    });
    if (!this.ring.initialised && opts.init.kind === "seed") {
      this.ring.seedWith(opts.init.members);
      this.#saveMeta();
    } else if (this.ring.resignOwn(this.self)) this.#saveMeta();
    this.#nextIp = this.ring.start;
  }

  /** The mesh channel to send on; set once the channel is registered. */
  attach(channel: GossipChannel): void {
    this.#exchange.attach(channel);
  }

  /** The mesh's current peers (reachability, nicknames). */
  setPeers(peers: PeerInfo[]): void {
    this.#peers = new Map(peers.map((p) => [p.name, p]));
    this.ring.reachabilityChanged();
  }

  get ready(): boolean {
    return this.ring.initialised;
  }

  allocations(): Allocation[] {
    return this.#table.all();
  }

  lookup(key: AllocKey): Allocation | undefined {
    return this.#table.lookup(key);
  }

  /** Why allocation cannot proceed yet, or null when the ring is initialised. */
  notReadyReason(): string | null {
    return this.#exchange.notReadyReason();
  }

  /** The segments this peer owns, adjacent ones joined. */
  owned(): Span[] {
    return this.ring.ownedBy(this.self);
  }

  // ---- allocation ----------------------------------------------------------------------------

  /** Allocates an address for `key` (idempotent), inside `subnet` when given. */
  allocate(key: AllocKey, subnet?: Cidr): Outcome {
    const bounds = subnet ? subnetBounds(this.range, subnet) : rangeBounds(this.range);
    if ("error" in bounds) return { ok: false, status: 400, error: bounds.error };
    const existing = this.#table.lookup(key);
    if (existing) {
      if (existing.ip >= bounds.lo && existing.ip < bounds.hi) return { ok: true, ip: existing.ip };
      return heldElsewhere(key, existing.ip, subnet ? formatCidr(subnet) : this.rangeText);
    }
    const why = this.notReadyReason();
    if (why) return { ok: false, wait: why };
    const ip = this.#table.findFree(
      this.owned(),
      bounds.lo,
      bounds.hi,
      bounds.reserved,
      this.#nextIp,
    );
    if (ip !== null) {
      this.#allocateAt(key, ip);
      return { ok: true, ip };
    }
    return { ok: false, wait: this.#exchange.askForSpace(bounds.lo, bounds.hi) };
  }

  /** Claims `ip` for `key`: ok when free in this peer's space or already held by `key`. */
  claim(key: AllocKey, ip: number): Outcome {
    const outside = claimOutside(this.range, ip);
    if (outside) return outside;
    const holder = this.#table.holder(ip);
    if (holder && holder.id === key.id && holder.ifname === key.ifname) return { ok: true, ip };
    if (holder) {
      return {
        ok: false,
        status: 409,
        error: `${formatIPv4(ip)} is already allocated to container ${holder.id} (${
          holder.ifname || "no ifname"
        })`,
      };
    }
    const mine = this.#table.lookup(key);
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
    if (!this.#table.lookup(key)) return null;
    this.#opts.persist.deleteAllocations([key]);
    return this.#table.forget(key)!.ip;
  }

  /** Releases every allocation whose container id is not in `liveIds` nor its key in `liveKeys`. */
  releaseExcept(liveIds: Set<string>, liveKeys: Set<string>): Allocation[] {
    const dead = this.#table.all().filter((a) =>
      !liveIds.has(a.id) && !liveKeys.has(`${a.id} ${a.ifname}`)
    );
    if (dead.length === 0) return [];
    this.#opts.persist.deleteAllocations(dead);
    for (const a of dead) this.#table.forget(a);
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
    if (!this.ring.mayTakeOver(this.self)) {
      return {
        ok: false,
        status: 409,
        error: `this peer owns no IP space and is not an initial member, so others would not ` +
          `accept its takeover: run rmpeer on a peer that owns space`,
      };
    }
    const taken = this.ring.takeover(this.self, name);
    if (taken > 0) {
      this.#saveMeta();
      this.#exchange.broadcast();
    }
    this.#exchange.forget(name);
    return { ok: true, taken, name };
  }

  // ---- gossip (exchange.ts) ------------------------------------------------------------------

  fullState(): Uint8Array {
    return this.#exchange.fullState();
  }

  onGossip(from: PeerName, data: Uint8Array): Uint8Array | null {
    return this.#exchange.onGossip(from, data);
  }

  onUnicast(from: PeerName, data: Uint8Array): void {
    this.#exchange.onUnicast(from, data);
  }

  /** Periodic work: consensus retries, space-request timeouts, free-space hints. */
  tick(): void {
    this.#exchange.tick();
  }

  status(): AllocatorStatus {
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
      allocated: this.#table.size,
      peers,
      conflicts: this.conflicts.list(),
      refusedTokens: Object.fromEntries(this.refused),
    };
  }

  /** The persisted form of ring and consensus records. */
  meta(): PersistedMeta {
    return { ring: this.ring.state(), paxos: this.#exchange.paxosState() };
  }

  // ---- internals -----------------------------------------------------------------------------

  #host() {
    return {
      self: this.self,
      auth: this.#ringAuth(),
      ring: this.ring,
      rangeText: this.rangeText,
      now: () => this.#opts.now(),
      random: () => this.#opts.random(),
      saveMeta: () => this.#saveMeta(),
      freeRanges: (lo: number, hi: number) =>
        this.#table.freeRanges(this.owned(), lo, hi, rangeBounds(this.range).reserved),
      ownFree: () => this.#ownFree(),
      peers: () => this.#peers,
      merged: (r: MergeReport) => this.#merged(r),
      conflict: (kind: ConflictKind, subject: string, message: string) =>
        this.#conflict(kind, subject, message),
      conflictOver: (kind: ConflictKind, subject: string) => this.conflicts.resolve(kind, subject),
      label: (name: PeerName) => this.#label(name),
    };
  }

  /** Reports a conflict found outside the allocator (e.g. an address in use it cannot claim). */
  reportConflict(kind: ConflictKind, subject: string, message: string): void {
    this.#conflict(kind, subject, message);
  }

  #conflict(kind: ConflictKind, subject: string, message: string): void {
    const c = this.conflicts.report(kind, subject, message, this.#opts.now());
    if (c) this.#opts.onConflict?.(c);
  }

  #ringAuth(): RingAuth {
    const signer = this.#opts.signer;
    return {
      self: this.self,
      sign: (payload, domain = TOKEN_DOMAIN) => signer.sign(domain, payload),
      verify: (author, payload, sig, domain = TOKEN_DOMAIN) =>
        signer.verify(author, domain, payload, sig),
      reachable: (peer) => peer === this.self || (this.#peers.get(peer)?.reachable ?? false),
    };
  }

  /**
   * After a peer's ring was merged: counts what was refused, reports takeovers of this peer's
   * space (refused), and allocations gossip says are in others' space. Those are never released
   * because of gossip: a live pod keeps its address, and keeping the allocation keeps the address
   * from being handed out again here until an operator resolves it.
   */
  #merged(r: MergeReport): void {
    let any = false;
    for (const [reason, n] of Object.entries(r.refused) as [Refusal, number][]) {
      this.refused.set(reason, (this.refused.get(reason) ?? 0) + n);
      any = true;
    }
    if (any) this.#opts.onRefused?.(r.refused);
    for (const by of new Set(r.takenFromSelf)) {
      this.#conflict("lost-space", by, lostSpaceMessage(this.#label(by)));
    }
    const outside = this.#table.all().filter((a) => this.ring.ownerOf(a.ip) !== this.self);
    if (outside.length > 0) {
      const msg = outsideMessage(outside.length, formatIPv4(outside[0].ip));
      this.#conflict("gossip-allocations", this.self, msg);
    } else this.conflicts.resolve("gossip-allocations", this.self);
  }

  #allocateAt(key: AllocKey, ip: number): void {
    const a = { id: key.id, ifname: key.ifname, ip };
    this.#opts.persist.putAllocation(a);
    this.#table.record(a);
    this.#nextIp = ip + 1;
  }

  #ownFree(): number {
    const owned = this.owned();
    let n = owned.reduce((sum, s) => sum + s.end - s.start, 0) - this.#table.size;
    for (const ip of rangeBounds(this.range).reserved) if (this.ring.ownerOf(ip) === this.self) n--;
    return Math.max(0, n);
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
}
