/**
 * The IPAM service: the pure allocator wired to the mesh (gossip channel "ipam"), the SQLite store,
 * timers, Prometheus metrics and the Weave-compatible HTTP API.
 *
 * Allocation key: Weave's API is keyed by container id alone; CNI attachments are keyed by
 * (container id, interface name). Here the interface name is the optional query parameter
 * `ifname`: `POST /ip/{containerid}?ifname=eth0`. Without it the key is (id, "") — Weave's
 * behaviour. `DELETE /ip/{id}` without `ifname` releases every interface of that container.
 */
import { z } from "zod";
import type { Cidr } from "../addr/mod.ts";
import { cidrSize, formatCidr, formatIPv4, parseCidr } from "../addr/mod.ts";
import type { Registry } from "../api/metrics.ts";
import {
  type ApiRoute,
  errorResponse,
  jsonResponse,
  textResponse,
  wantsJson,
} from "../api/route.ts";
import type { Logger } from "../log.ts";
import type { MeshView } from "../mesh/gossip_channel.ts";
import type { StatusSection } from "../mesh/status_text.ts";
import {
  Allocator,
  type AllocKey,
  type InitMode,
  type Outcome,
  type RmpeerOutcome,
  type Status,
} from "./allocator.ts";
import { IpamStore } from "./store.ts";

export class IpamConfigError extends Error {
  override name = "IpamConfigError";
}

/**
 * Parses `--ipalloc-init`: `consensus[=N]` (N defaults to `defaultExpected`: the number of initial
 * peers + 1), `seed=NAME,...`, or `observer`.
 */
export function parseInit(text: string, defaultExpected: number): InitMode {
  const c = /^consensus(?:=([1-9][0-9]{0,4}))?$/.exec(text);
  if (c) return { kind: "consensus", expected: c[1] ? Number(c[1]) : Math.max(1, defaultExpected) };
  if (text === "observer") return { kind: "observer" };
  if (text.startsWith("seed=")) {
    const members = text.slice(5).split(",").map((s) => s.trim().toLowerCase());
    if (members.some((m) => !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(m))) {
      throw new IpamConfigError(`--ipalloc-init ${text}: seed names must be peer names`);
    }
    return { kind: "seed", members };
  }
  throw new IpamConfigError(
    `--ipalloc-init "${text}": must be consensus, consensus=N, seed=NAME,... or observer`,
  );
}

export interface IpamOptions {
  /** `--ipalloc-range`, e.g. "10.32.0.0/12". */
  range: string | Cidr;
  /** `--ipalloc-init` text or a parsed mode. */
  init: string | InitMode;
  /** N for a bare `consensus`: the number of initial peers + 1. */
  expectedPeers?: number | (() => number);
  /** Where the store lives; null keeps state in memory only (tests, benchmarks). */
  datadir: string | null;
  log: Logger;
  /** How long an HTTP request waits for consensus or space before failing (default 30 s). */
  waitMs?: number;
  /** Timer period for consensus retries, request timeouts and free-space hints (default 250 ms). */
  tickMs?: number;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,254}$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

const gcBody = z.object({
  ids: z.array(
    z.union([
      z.string().regex(ID),
      z.object({ id: z.string().regex(ID), ifname: z.string().regex(IFNAME) }),
    ]),
  ).max(100_000),
});

/** A path segment decoded; malformed escapes stay as they are (and then fail validation). */
function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

interface Pending {
  attempt: () => Outcome;
  done: (r: Outcome) => void;
}

/** The IPAM part of the daemon (a DaemonComponent: net/daemon/component.ts). */
export class IpamService {
  readonly name = "ipam";
  readonly range: Cidr;
  #init: InitMode;
  readonly #opts: IpamOptions;
  readonly #log: Logger;
  #mesh: MeshView | null = null;
  #alloc: Allocator | null = null;
  #store: IpamStore | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  #unsubscribe: (() => void) | null = null;
  readonly #pending = new Set<Pending>();
  #reportedProblems = 0;

  constructor(opts: IpamOptions) {
    this.#opts = opts;
    this.#log = opts.log.with({ component: "ipam" });
    const range = typeof opts.range === "string" ? parseCidr(opts.range) : opts.range;
    if (range.prefix > 30) {
      throw new IpamConfigError(`--ipalloc-range ${formatCidr(range)} is too small (max /30)`);
    }
    this.range = { ip: (range.ip & ~(2 ** (32 - range.prefix) - 1)) >>> 0, prefix: range.prefix };
    this.#init = typeof opts.init === "string"
      ? parseInit(opts.init, 1) // validated now; N resolved at start
      : opts.init;
  }

  /** Registers weavets_ips, weavets_max_ips, weavets_ipam_unreachable_percentage. */
  metrics(registry: Registry): void {
    registry.gaugeFn("weavets_ips", "Addresses allocated on this peer", () => [{
      value: this.allocationCount(),
    }]);
    registry.gaugeFn("weavets_max_ips", "Addresses in the IP allocation range", () => [{
      value: cidrSize(this.range),
    }]);
    registry.gaugeFn(
      "weavets_ipam_unreachable_percentage",
      "Share of the IP range owned by peers this peer cannot reach (use rmpeer if they are dead)",
      () => [{ value: this.#unreachablePercentage() }],
    );
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
    const memory = { saveMeta() {}, putAllocation() {}, deleteAllocations() {} };
    const alloc = new Allocator({
      self: mesh.self,
      range: this.range,
      init: this.#init,
      persist: this.#store ?? memory,
      now: () => Date.now(),
      random: Math.random,
      restored,
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
    this.#unsubscribe = mesh.onChange(() => this.#after(() => alloc.setPeers(this.#mesh!.peers())));
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
    this.#unsubscribe?.();
    for (const p of this.#pending) p.done({ ok: false, status: 409, error: "IPAM is stopping" });
    this.#pending.clear();
    this.#store?.close();
    this.#alloc = null;
  }

  /** Null when addresses can be allocated; otherwise why not. */
  ready(): string | null {
    if (!this.#alloc) return "IPAM not started";
    return this.#alloc.notReadyReason();
  }

  /**
   * The address ranges this peer owns now, as "first-last" (nft interval syntax): the local pods'
   * addresses, which NO_MASQ_LOCAL keeps unmasqueraded.
   */
  ownedRanges(): string[] {
    const alloc = this.#alloc;
    if (!alloc) return [];
    return alloc.ring.ownedBy(alloc.self).map((s) =>
      `${formatIPv4(s.start)}-${formatIPv4(s.end - 1)}`
    );
  }

  allocationCount(): number {
    return this.#alloc?.allocations().length ?? 0;
  }

  ipamStatus(): Status | null {
    return this.#alloc?.status() ?? null;
  }

  /** The `Service: ipam` section of `weavets status`. */
  status(): StatusSection {
    const s = this.#alloc?.status();
    return {
      service: "ipam",
      fields: [
        ["Status", s?.state ?? "not started"],
        ["Range", formatCidr(this.range)],
        ["DefaultSubnet", formatCidr(this.range)],
        ["Allocated", String(s?.allocated ?? 0)],
      ],
    };
  }

  report(): unknown {
    const s = this.#alloc?.status();
    return { ...s, entries: this.#alloc?.ring.entries() ?? [] };
  }

  /** `weavets status ipam`: every peer's share, like Weave's. */
  statusText(): string {
    const s = this.#alloc?.status();
    if (!s) return "IPAM not started\n";
    const size = cidrSize(this.range);
    const lines = [`Status: ${s.state}`, `Range: ${s.range}`, `Allocated here: ${s.allocated}`, ""];
    for (const p of s.peers) {
      if (p.owned === 0 && p.name !== s.self) continue;
      const label = p.nickname ? `${p.name}(${p.nickname})` : p.name;
      const pct = ((100 * p.owned) / size).toFixed(1).padStart(4, "0");
      lines.push(
        `${label.padEnd(37)} ${String(p.owned).padStart(8)} IPs (${pct}% of total)` +
          (p.name === s.self ? ` (${s.allocated} active)` : "") +
          (p.reachable ? "" : " - unreachable!"),
      );
    }
    return lines.join("\n") + "\n";
  }

  routes(): ApiRoute[] {
    return [
      { method: "POST", path: "/ip/:id", handle: (req, p) => this.#allocate(req, p) },
      { method: "POST", path: "/ip/:id/:ip/:len", handle: (req, p) => this.#allocate(req, p) },
      { method: "PUT", path: "/ip/:id/:ip/:len", handle: (req, p) => this.#claim(req, p) },
      { method: "GET", path: "/ip/:id", handle: (req, p) => this.#lookup(req, p) },
      { method: "DELETE", path: "/ip/:id", handle: (req, p) => this.#release(req, p) },
      { method: "GET", path: "/ip", handle: () => this.#list() },
      { method: "POST", path: "/ipam/gc", handle: (req) => this.#gc(req) },
      {
        method: "GET",
        path: "/ipinfo/defaultsubnet",
        handle: () => textResponse(formatCidr(this.range)),
      },
      { method: "DELETE", path: "/peer/:name", handle: (_req, p) => this.#rmpeer(p) },
      {
        method: "GET",
        path: "/status/ipam",
        handle: (req) =>
          wantsJson(req) ? jsonResponse(this.#alloc?.status() ?? {}) : textResponse(
            this.statusText(),
          ),
      },
    ];
  }

  // ---- handlers ------------------------------------------------------------------------------

  async #allocate(req: Request, p: Record<string, string>): Promise<Response> {
    const key = this.#key(req, p);
    if ("error" in key) return errorResponse(400, key.error);
    let subnet: Cidr | undefined;
    if (p.ip !== undefined) {
      const c = this.#cidr(p.ip, p.len);
      if ("error" in c) return errorResponse(400, c.error);
      subnet = c;
    }
    const had = this.#alloc?.lookup(key) !== undefined;
    return await this.#respond(key, had, await this.#wait(() => this.#a().allocate(key, subnet)));
  }

  async #claim(req: Request, p: Record<string, string>): Promise<Response> {
    const key = this.#key(req, p);
    if ("error" in key) return errorResponse(400, key.error);
    const c = this.#cidr(p.ip, p.len);
    if ("error" in c) return errorResponse(400, c.error);
    const had = this.#alloc?.lookup(key) !== undefined;
    return await this.#respond(key, had, await this.#wait(() => this.#a().claim(key, c.ip)));
  }

  #lookup(req: Request, p: Record<string, string>): Response {
    const key = this.#key(req, p);
    if ("error" in key) return errorResponse(400, key.error);
    const hasIfname = new URL(req.url).searchParams.has("ifname");
    const found = hasIfname
      ? this.#a().lookup(key)
      : this.#a().allocations().find((a) => a.id === key.id);
    if (!found) return errorResponse(404, `no addresses for container ${key.id}`);
    return textResponse(this.#fmt(found.ip));
  }

  async #release(req: Request, p: Record<string, string>): Promise<Response> {
    const key = this.#key(req, p);
    if ("error" in key) return errorResponse(400, key.error);
    const hasIfname = new URL(req.url).searchParams.has("ifname");
    const keys: AllocKey[] = hasIfname
      ? [key]
      : this.#a().allocations().filter((a) => a.id === key.id);
    for (const k of keys) this.#a().release(k);
    this.#retryPending();
    const failed = await this.#durable();
    return failed ?? new Response(null, { status: 204 });
  }

  #list(): Response {
    return jsonResponse(
      this.#a().allocations().sort((x, y) => x.ip - y.ip).map((a) => ({
        id: a.id,
        ifname: a.ifname,
        ip: this.#fmt(a.ip),
      })),
    );
  }

  async #gc(req: Request): Promise<Response> {
    let body;
    try {
      body = gcBody.parse(JSON.parse(await req.text()));
    } catch {
      return errorResponse(
        400,
        'body must be JSON {"ids": ["<container id>" | {"id": ..., "ifname": ...}, ...]}',
      );
    }
    const ids = new Set<string>(), keys = new Set<string>();
    for (const x of body.ids) {
      if (typeof x === "string") ids.add(x);
      else keys.add(`${x.id} ${x.ifname}`);
    }
    const released = this.#a().releaseExcept(ids, keys);
    if (released.length > 0) {
      this.#log.info("IPAM garbage collection released addresses", { count: released.length });
      this.#retryPending();
    }
    const failed = await this.#durable();
    if (failed) return failed;
    return jsonResponse({
      released: released.map((a) => ({ id: a.id, ifname: a.ifname, ip: this.#fmt(a.ip) })),
    });
  }

  #rmpeer(p: Record<string, string>): Response {
    const name = decode(p.name);
    if (!/^[A-Za-z0-9:._-]{1,64}$/.test(name)) {
      return errorResponse(400, `invalid peer name "${name}"`);
    }
    if (!this.#alloc) return errorResponse(503, "IPAM not started");
    const r = this.removePeer(name);
    if (!r.ok) return errorResponse(r.status, r.error);
    return textResponse(`${r.taken} IPs taken over from ${name}`);
  }

  /** rmpeer (`DELETE /peer/{name}`, and Kubernetes' reclaim of a deleted node's peer). */
  removePeer(nameOrNick: string): RmpeerOutcome {
    const alloc = this.#a();
    alloc.setPeers(this.#mesh!.peers());
    const r = alloc.rmpeer(nameOrNick);
    if (!r.ok) return r;
    this.#log.warn("took over the IP space of a removed peer", {
      peer: r.name,
      addresses: r.taken,
    });
    this.#retryPending();
    return r;
  }

  /**
   * Allocates for `id` exactly as `POST /ip/{id}` does (waiting for consensus or space, durable
   * before it returns), e.g. the bridge's own "weave:expose" address. Returns "a.b.c.d/len".
   */
  async allocateFor(id: string): Promise<string> {
    const r = await this.#allocate(
      new Request(`http://ipam/ip/${encodeURIComponent(id)}`, { method: "POST" }),
      { id: encodeURIComponent(id) },
    );
    const text = (await r.text()).trim();
    if (!r.ok) throw new Error(`IPAM: ${text}`);
    return text;
  }

  // ---- helpers -------------------------------------------------------------------------------

  #a(): Allocator {
    if (!this.#alloc) throw new Error("IPAM not started");
    return this.#alloc;
  }

  #key(req: Request, p: Record<string, string>): AllocKey | { error: string } {
    const id = decode(p.id ?? "");
    if (!ID.test(id)) {
      return { error: `invalid container id "${id.slice(0, 80)}": letters, digits and _.:@- only` };
    }
    const ifname = new URL(req.url).searchParams.get("ifname") ?? "";
    if (ifname !== "" && !IFNAME.test(ifname)) {
      return { error: `invalid interface name "${ifname.slice(0, 80)}"` };
    }
    return { id, ifname };
  }

  #cidr(ip: string, len: string): Cidr | { error: string } {
    try {
      return parseCidr(`${ip}/${len}`);
    } catch (e) {
      return { error: (e as Error).message };
    }
  }

  #fmt(ip: number): string {
    return `${formatIPv4(ip)}/${this.range.prefix}`;
  }

  /** Null once all writes so far are committed; else the error response to give. */
  async #durable(): Promise<Response | null> {
    try {
      await this.#store?.committed();
      return null;
    } catch (e) {
      this.#log.error("cannot write the IPAM store", { error: (e as Error).message });
      return errorResponse(500, `cannot write the IPAM store: ${(e as Error).message}`);
    }
  }

  async #respond(key: AllocKey, had: boolean, r: Outcome): Promise<Response> {
    if (r.ok) {
      const failed = await this.#durable();
      if (failed) {
        if (!had) this.#alloc?.release(key); // not on disk: not handed out either
        return failed;
      }
      return textResponse(this.#fmt(r.ip));
    }
    if ("wait" in r) return errorResponse(503, r.wait);
    return errorResponse(r.status, r.error);
  }

  /** Runs `attempt` now and again after every change until it is decided or the wait ends. */
  #wait(attempt: () => Outcome): Promise<Outcome> {
    if (!this.#alloc) return Promise.resolve({ ok: false, wait: "IPAM not started" });
    const first = attempt();
    if (first.ok || !("wait" in first)) return Promise.resolve(first);
    return new Promise((resolve) => {
      let last: Outcome = first;
      const entry: Pending = {
        attempt: () => (last = attempt()),
        done: (r) => {
          clearTimeout(timer);
          this.#pending.delete(entry);
          resolve(r);
        },
      };
      const timer = setTimeout(() => entry.done(last), this.#opts.waitMs ?? 30_000);
      this.#pending.add(entry);
    });
  }

  #retryPending(): void {
    for (const p of [...this.#pending]) {
      const r = p.attempt();
      if (r.ok || !("wait" in r)) p.done(r);
    }
  }

  /** Runs a state change, then retries waiting requests and logs new problems. */
  #after<T>(fn: () => T): T {
    try {
      return fn();
    } finally {
      if (this.#alloc) {
        const problems = this.#alloc.problems;
        for (; this.#reportedProblems < problems.length; this.#reportedProblems++) {
          this.#log.error(problems[this.#reportedProblems]);
        }
        queueMicrotask(() => this.#alloc && this.#retryPending());
      }
    }
  }

  #unreachablePercentage(): number {
    const s = this.#alloc?.status();
    if (!s) return 0;
    const size = cidrSize(this.range);
    const lost = s.peers.filter((p) => !p.reachable).reduce((n, p) => n + p.owned, 0);
    return (100 * lost) / size;
  }
}

/**
 * The IPAM service joined to `mesh`, metrics registered: what the daemon plugs in. The returned
 * object is also a DaemonComponent, so `new IpamService(opts)` can go in the components list
 * instead (the daemon then calls metrics() and start(mesh)).
 */
export function createIpam(
  opts: IpamOptions & { mesh: MeshView; registry: Registry },
): IpamService {
  const s = new IpamService(opts);
  s.metrics(opts.registry);
  s.start(opts.mesh);
  return s;
}
