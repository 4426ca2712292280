/**
 * The IPAM service: the pure allocator wired to the mesh (gossip channel "ipam"), the SQLite store
 * and timers, offered as a domain API — allocate, claim, release, gc, removePeer and one status
 * view — that waits for consensus or space and answers only once a change is on disk. No HTTP
 * here: the Weave-compatible routes (http.ts), status text (status_text.ts), metrics (metrics.ts)
 * and the daemon's component (component.ts) are adapters over this API.
 *
 * Allocation key: Weave's API is keyed by container id alone; CNI attachments are keyed by
 * (container id, interface name). An empty interface name is Weave's behaviour.
 */
import type { Cidr } from "../addr/mod.ts";
import {
  canonical,
  cidrContainsCidr,
  formatCidr,
  formatIPv4,
  networkOf,
  parseCidr,
} from "../addr/mod.ts";
import { describeCause } from "../cause.ts";
import { WeavetsError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { MeshView } from "../mesh/gossip_channel.ts";
import { Allocator } from "./allocator.ts";
import { IpamConfigError, parseInit } from "./init_mode.ts";
import { RefusalTally } from "./refusal_tally.ts";
import { IpamStore, StoreError } from "./store.ts";
import type {
  Allocation,
  AllocKey,
  InitMode,
  IpamStatus,
  Outcome,
  Persistence,
  RmpeerOutcome,
} from "./types.ts";
import { WaitingRequests, type WaitKind } from "./waiting.ts";

export interface IpamOptions {
  /** `--ipalloc-range`, e.g. "10.32.0.0/12". */
  range: string | Cidr;
  /** `--ipalloc-init` text or a parsed mode. */
  init: string | InitMode;
  /**
   * Weave's --ipalloc-default-subnet: where an allocation that names no subnet is made, and the
   * prefix length it is answered with (default: the range). Must be inside the range.
   */
  defaultSubnet?: string;
  /** N for a bare `consensus`: the number of initial peers + 1. */
  expectedPeers?: number | (() => number);
  /** Where the store lives; null keeps state in memory only (tests, benchmarks). */
  datadir: string | null;
  log: Logger;
  /** How long a request waits for consensus or space before failing (default 30 s). */
  waitMs?: number;
  /** Timer period for consensus retries, request timeouts and free-space hints (default 250 ms). */
  tickMs?: number;
}

/** The service is not running (not started yet, or stopping): the caller may retry later. */
export class IpamUnavailable extends WeavetsError {
  override name = "IpamUnavailable";
  constructor(message: string) {
    super("unavailable", message);
  }
}

const MEMORY: Persistence = { saveMeta() {}, putAllocation() {}, deleteAllocations() {} };

export class IpamService {
  readonly range: Cidr;
  /** Allocations without a subnet are made here (the range unless --ipalloc-default-subnet). */
  readonly defaultSubnet: Cidr;
  #init: InitMode;
  readonly #opts: IpamOptions;
  readonly #log: Logger;
  #mesh: MeshView | null = null;
  #alloc: Allocator | null = null;
  #store: IpamStore | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Deferred slices of a received ring's signature checks (exchange.ts), cleared by stop(). */
  readonly #slices = new Set<ReturnType<typeof setTimeout>>();
  #unsubscribe: (() => void) | null = null;
  readonly #pending = new WaitingRequests();
  readonly #refusals = new RefusalTally();

  constructor(opts: IpamOptions) {
    this.#opts = opts;
    this.#log = opts.log.with({ component: "ipam" });
    const range = typeof opts.range === "string" ? parseCidr(opts.range) : opts.range;
    if (range.prefix > 30) {
      throw new IpamConfigError(`--ipalloc-range ${formatCidr(range)} is too small (max /30)`);
    }
    this.range = { ip: networkOf(range), prefix: range.prefix };
    const ds = opts.defaultSubnet ? canonical(parseCidr(opts.defaultSubnet)) : this.range;
    if (!cidrContainsCidr(this.range, ds)) {
      throw new IpamConfigError(
        `--ipalloc-default-subnet ${formatCidr(ds)} is not inside --ipalloc-range ` +
          formatCidr(this.range),
      );
    }
    this.defaultSubnet = ds;
    this.#init = typeof opts.init === "string"
      ? parseInit(opts.init, 1) // validated now; N resolved at start
      : opts.init;
  }

  /** Opens the store, joins the mesh's "ipam" channel and starts the timers. */
  start(mesh: MeshView): void {
    if (this.#alloc) throw new Error("IPAM already started");
    this.#mesh = mesh;
    // With Kubernetes the initial peers are known only once the Node list is read, before start.
    const e = this.#opts.expectedPeers;
    if (typeof this.#opts.init === "string") {
      this.#init = parseInit(this.#opts.init, typeof e === "function" ? e() : e ?? 1);
    }
    let restored;
    if (this.#opts.datadir !== null) {
      this.#store = new IpamStore(this.#opts.datadir, this.range, mesh.self);
      restored = this.#store.load();
    }
    const alloc = new Allocator({
      self: mesh.self,
      range: this.range,
      init: this.#init,
      persist: this.#store ?? MEMORY,
      signer: mesh,
      now: () => Date.now(),
      random: Math.random,
      restored,
      onConflict: (c) => this.#log.error(c.message, { conflict: c.kind, subject: c.subject }),
      onRefused: (r) => this.#logRefused(r),
      slicing: {
        defer: (fn, pauseMs) => {
          const t = setTimeout(() => this.#slices.delete(t) && this.#after(fn), pauseMs);
          this.#slices.add(t);
        },
        onSliceError: (e) =>
          this.#log.error("cannot merge IP ownership", { error: describeCause(e) }),
      },
    });
    this.#alloc = alloc;
    alloc.setPeers(mesh.peers());
    // The mesh cannot unregister a channel: after stop() (store closed) messages are ignored.
    const live = () => this.#alloc === alloc;
    alloc.attach(mesh.channel("ipam", {
      fullState: () => alloc.fullState(),
      onGossip: (from, data) => live() ? this.#after(() => alloc.onGossip(from, data)) : null,
      onUnicast: (from, data) => {
        if (live()) this.#after(() => alloc.onUnicast(from, data));
      },
    }));
    this.#unsubscribe = mesh.onChange(() => this.#after(() => alloc.setPeers(mesh.peers())));
    this.#timer = setInterval(() => this.#after(() => alloc.tick()), this.#opts.tickMs ?? 250);
    this.#after(() => alloc.tick());
    this.#log.info("IPAM started", {
      range: formatCidr(this.range),
      init: this.#init.kind,
      restoredAllocations: restored?.allocations.length ?? 0,
    });
  }

  stop(): void {
    clearInterval(this.#timer);
    for (const t of this.#slices) clearTimeout(t);
    this.#slices.clear();
    this.#unsubscribe?.();
    this.#pending.failAll("IPAM is stopping");
    this.#store?.close();
    this.#alloc = null;
  }

  /** Null when addresses can be allocated; otherwise why not. */
  ready(): string | null {
    if (!this.#alloc) return "IPAM not started";
    return this.#alloc.notReadyReason();
  }

  // ---- the domain API ------------------------------------------------------------------------

  /**
   * Allocates an address for `key` (the same one again for a key that has one), inside `subnet`
   * when given; waits up to `waitMs` for consensus or space. Resolves once the allocation is on
   * disk; rejects with StoreError when it cannot be written (nothing is handed out then).
   */
  allocate(key: AllocKey, subnet?: Cidr): Promise<Outcome> {
    const where = subnet ??
      (this.defaultSubnet.prefix !== this.range.prefix ? this.defaultSubnet : undefined);
    return this.#change(key, "allocate", (a) => a.allocate(key, where));
  }

  /**
   * Allocates as `allocate` does and formats the address with the range's prefix length
   * ("a.b.c.d/len", the pods' form); throws when no address can be had (e.g. the bridge's own
   * "weave:expose" address, which the data plane retries).
   */
  async allocateCidr(key: AllocKey): Promise<string> {
    const r = await this.allocate(key);
    if (!r.ok) throw new IpamUnavailable(`IPAM: ${"wait" in r ? r.wait : r.error}`);
    return `${formatIPv4(r.ip)}/${this.defaultSubnet.prefix}`;
  }

  /** Claims `ip` for `key` (e.g. an address a pod already has); waits and persists as allocate. */
  claim(key: AllocKey, ip: number): Promise<Outcome> {
    return this.#change(key, "claim", (a) => a.claim(key, ip));
  }

  /**
   * Claims an address found in use on this node at start (the bridge's own as "weave:expose",
   * pods' on their veths), so IPAM never hands it out again. Unlike `claim`, a refusal is not
   * the caller's error to handle: it is reported as a conflict (status, metric, one log line)
   * naming the address and its holder, and returned.
   */
  async claimExisting(key: AllocKey, ip: number): Promise<Outcome> {
    const r = await this.claim(key, ip);
    if (!r.ok) {
      const why = "wait" in r ? r.wait : r.error;
      this.#allocator().reportConflict(
        "existing-address",
        formatIPv4(ip),
        `${formatIPv4(ip)} is in use on this node by ${key.id}${
          key.ifname ? ` (${key.ifname})` : ""
        } but IPAM could not claim it (${why}): it may be handed out again; remove the pod or ` +
          "the address, or fix the claim",
      );
    }
    return r;
  }

  /**
   * Releases the given keys, or every interface of a container (`{ id }`), or one address of a
   * container (`{ id, ip }`). Resolves to what was released, once that is on disk.
   */
  async release(what: AllocKey[] | { id: string; ip?: number }): Promise<Allocation[]> {
    const alloc = this.#allocator();
    const keys = Array.isArray(what)
      ? what.map((k) => alloc.lookup(k)).filter((a): a is Allocation => a !== undefined)
      : alloc.allocations().filter((a) =>
        a.id === what.id && (what.ip === undefined || a.ip === what.ip)
      );
    for (const k of keys) alloc.release(k);
    if (keys.length > 0) this.#retryPending();
    await this.#committed();
    return keys;
  }

  /**
   * Garbage collection (CNI GC): releases every allocation whose container id is not in `liveIds`
   * and whose (id, ifname) key is not in `liveKeys` ("id ifname").
   */
  async gc(liveIds: Set<string>, liveKeys: Set<string>): Promise<Allocation[]> {
    const released = this.#allocator().releaseExcept(liveIds, liveKeys);
    if (released.length > 0) {
      this.#log.info("IPAM garbage collection released addresses", { count: released.length });
      this.#retryPending();
    }
    await this.#committed();
    return released;
  }

  /** rmpeer (`DELETE /peer/{name}`, and Kubernetes' reclaim of a deleted node's peer). */
  removePeer(nameOrNick: string): RmpeerOutcome {
    const alloc = this.#allocator();
    alloc.setPeers(this.#mesh!.peers());
    const r = alloc.rmpeer(nameOrNick);
    if (!r.ok) return r;
    this.#log.warn("took over the IP space of a removed peer", {
      peer: r.name,
      addresses: r.taken,
    });
    // Gone for good: its signing key may no longer speak for its name (docs/PROTOCOL.md).
    this.#mesh!.forgetPeer(r.name);
    this.#retryPending();
    return r;
  }

  lookup(key: AllocKey): Allocation | undefined {
    return this.#alloc?.lookup(key);
  }

  /** Every allocation on this peer, by address. */
  allocations(): Allocation[] {
    return (this.#alloc?.allocations() ?? []).sort((x, y) => x.ip - y.ip);
  }

  /** The one status view (null before start): what text, JSON and metrics render. */
  view(): IpamStatus | null {
    const s = this.#alloc?.status();
    if (!s) return null;
    const { allocates, claims } = this.#pending.counts();
    return { ...s, pendingAllocates: allocates, pendingClaims: claims };
  }

  /** The ring's entries, for GET /report. */
  ringEntries(): unknown[] {
    return [...(this.#alloc?.ring.entries() ?? [])];
  }

  /**
   * The address ranges this peer owns now, as "first-last" (nft interval syntax): the local pods'
   * addresses, which NO_MASQ_LOCAL keeps unmasqueraded.
   */
  ownedRanges(): string[] {
    return (this.#alloc?.owned() ?? []).map((s) =>
      `${formatIPv4(s.start)}-${formatIPv4(s.end - 1)}`
    );
  }

  // ---- internals -----------------------------------------------------------------------------

  #allocator(): Allocator {
    if (!this.#alloc) throw new IpamUnavailable("IPAM not started");
    return this.#alloc;
  }

  /** Runs `attempt` until decided (or the wait ends), then waits until the result is on disk. */
  async #change(
    key: AllocKey,
    kind: WaitKind,
    attempt: (a: Allocator) => Outcome,
  ): Promise<Outcome> {
    const had = this.#alloc?.lookup(key) !== undefined;
    const r = await this.#wait(kind, () => attempt(this.#allocator()));
    if (!r.ok) return r;
    try {
      await this.#committed();
    } catch (e) {
      if (!had) this.#alloc?.release(key); // not on disk: not handed out either
      throw e;
    }
    return r;
  }

  /** Resolves once all writes so far are committed; rejects with StoreError when that failed. */
  async #committed(): Promise<void> {
    try {
      await this.#store?.committed();
    } catch (e) {
      this.#log.error("cannot write the IPAM store", { error: describeCause(e) });
      throw e instanceof StoreError
        ? e
        : new StoreError(`cannot write the IPAM store: ${describeCause(e)}`);
    }
  }

  /** Runs `attempt` now and again after every change until it is decided or the wait ends. */
  #wait(kind: WaitKind, attempt: () => Outcome): Promise<Outcome> {
    if (!this.#alloc) return Promise.resolve({ ok: false, wait: "IPAM not started" });
    return this.#pending.wait(kind, attempt, this.#opts.waitMs ?? 30_000);
  }

  #retryPending(): void {
    this.#pending.retry();
  }

  /** Runs a state change, then retries waiting requests. */
  #after<T>(fn: () => T): T {
    try {
      return fn();
    } finally {
      if (this.#alloc) queueMicrotask(() => this.#alloc && this.#retryPending());
    }
  }

  /** At most one line per minute: a forger repeating itself costs counters, not a log line each. */
  #logRefused(r: Partial<Record<string, number>>): void {
    const refused = this.#refusals.add(r, Date.now());
    if (!refused) return;
    this.#log.warn(
      "refused IP ring tokens from gossip (forged, or not signed by a peer entitled to change " +
        "them); nothing was changed. A reason that keeps growing: look for a peer of another " +
        "version or a forger (weavets_ipam_refused_tokens_total)",
      { refused },
    );
  }
}
