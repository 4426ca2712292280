/**
 * The mesh: listens for and dials control connections, keeps one connection per peer, gossips the
 * topology (itself a gossip channel) and whatever channels components register, and discovers
 * further peers from the topology. Implements MeshView for the daemon's components.
 */
import type { Logger } from "../log.ts";
import { backoffDelay, type BackoffOptions, DEFAULT_BACKOFF } from "./backoff.ts";
import type { Identity, Message } from "./codec.ts";
import {
  type ConnectionTiming,
  ControlConnection,
  DEFAULT_CONNECTION_TIMING,
} from "./connection.ts";
import { Gossip } from "./gossip.ts";
import type {
  DataKey,
  GossipChannel,
  Gossiper,
  MeshView,
  PeerInfo,
  PeerName,
  SignatureCheck,
} from "./gossip_channel.ts";
import { type HandshakeError, PROTOCOL_MAX, PROTOCOL_MIN } from "./handshake.ts";
import { randomUid } from "./peer_name.ts";
import { type ConnectionRecord, encodeUpdate } from "./topology.ts";
import type { TopologyStore } from "./topology_store.ts";
import { SigningKey } from "./signing.ts";
import { PeerKeys } from "./keys.ts";
import { LocalTopology, TOPOLOGY_CHANNEL } from "./local_topology.ts";

export { TOPOLOGY_CHANNEL };
export const DEFAULT_PORT = 6783;
/**
 * Neighbours that get a full state per anti-entropy round. Broadcast does the spreading;
 * anti-entropy only repairs what it missed, and a full topology of thousands of peers is megabytes.
 */
export const ANTI_ENTROPY_FANOUT = 2;
/** Inbound connections allowed to be in their handshake at once. */
export const MAX_INBOUND_HANDSHAKES = 32;

export interface MeshTiming extends ConnectionTiming {
  dialTimeoutMs: number;
  /** Period of anti-entropy (full state to a few random neighbours), jittered ±25 %. */
  antiEntropyMs: number;
  /** How long an unreachable peer stays in the topology. */
  forgetAfterMs: number;
  backoff: BackoffOptions;
}

export const DEFAULT_MESH_TIMING: MeshTiming = {
  ...DEFAULT_CONNECTION_TIMING,
  dialTimeoutMs: 5_000,
  antiEntropyMs: 30_000,
  forgetAfterMs: 60_000,
  backoff: DEFAULT_BACKOFF,
};

export interface MeshConfig {
  name: PeerName;
  nickname: string;
  /** Listen address and port for control connections. */
  host: string;
  port: number;
  password: string | null;
  connLimit: number;
  /** Initial peers to dial: "host" or "host:port". */
  peers: string[];
  timing?: Partial<MeshTiming>;
  log: Logger;
  /** This peer's signing key; a fresh one when absent (the daemon loads it from its data dir). */
  signingKey?: SigningKey;
}

export type TargetState = "connecting" | "established" | "retrying" | "failed";

/** An address this peer dials: given on the command line, or learned from the topology. */
interface Target {
  address: string;
  /** configured: flags and KUBE_PEERS; dynamic: setTargets (e.g. Kubernetes Nodes). */
  origin: "configured" | "dynamic" | "discovered";
  state: TargetState;
  reason?: string;
  attempt: number;
  retryAt?: number;
  lastAttempt?: number;
  timer?: ReturnType<typeof setTimeout>;
  /** The peer found at this address, once a handshake succeeded. */
  peer?: PeerName;
}

export interface ConnectionStatus {
  direction: "outbound" | "inbound";
  address: string;
  state: TargetState | "pending";
  encrypted: boolean;
  name?: PeerName;
  nickname?: string;
  /** Why it is not established, and when the next attempt is. */
  reason?: string;
  retryAt?: string;
  /** Filled in by the daemon from its components (e.g. "fastdp"), with why. */
  dataPath?: string;
  pathReason?: string;
}

export interface PeerStatus {
  name: PeerName;
  nickname: string;
  uid: string;
  version: number;
  reachable: boolean;
  connections: Array<{
    name: PeerName;
    nickname: string;
    address: string;
    outbound: boolean;
    /** Both ends report it established (otherwise it is pending). */
    established: boolean;
  }>;
}

export interface MeshStatus {
  name: PeerName;
  nickname: string;
  uid: string;
  protocol: string;
  encryption: boolean;
  peerDiscovery: boolean;
  connLimit: number;
  listen: string;
  targets: string[];
  connections: ConnectionStatus[];
  peers: PeerStatus[];
  /** Unicast routes: destination → next hop. */
  routes: Record<PeerName, PeerName>;
}

export interface MeshCounters {
  terminations: number;
}

/** Splits "host[:port]" (IPv4 or a name; IPv6 in brackets) and applies the default port. */
export function parsePeerAddress(
  text: string,
  defaultPort: number,
): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:\s]+)(?::(\d{1,5}))?$/.exec(text.trim());
  const port = m?.[2] === undefined ? defaultPort : Number(m[2]);
  if (!m || port < 1 || port > 65535) {
    throw new Error(`invalid peer address "${text}": expected HOST or HOST:PORT`);
  }
  return { host: m[1].replace(/^\[|\]$/g, ""), port };
}

export class Mesh implements MeshView {
  readonly self: PeerName;
  readonly uid = randomUid();
  readonly store: TopologyStore;
  /** The topology channel and its store, with authorship checks (local_topology.ts). */
  readonly topology: LocalTopology;
  readonly gossip: Gossip;
  readonly counters: MeshCounters = { terminations: 0 };
  readonly timing: MeshTiming;
  readonly #config: MeshConfig;
  readonly #log: Logger;
  readonly #signingKey: SigningKey;
  /** Peers' bound signing keys (net/mesh/keys.ts): the handshake binds each peer's. */
  readonly keys: PeerKeys;
  readonly #conns = new Map<PeerName, ControlConnection>();
  /** onChange subscribers, also told when a connection's data key comes or goes. */
  readonly #keyListeners = new Set<() => void>();
  readonly #handshaking = new Set<Deno.TcpConn>();
  #inboundHandshakes = 0;
  readonly #targets = new Map<string, Target>();
  readonly #periodic: Array<{ timer?: ReturnType<typeof setTimeout> }> = [];
  readonly #topology: GossipChannel;
  #listener: Deno.TcpListener | null = null;
  #stopped = false;
  #broadcastVersion = 0;
  #discoveryQueued = false;

  constructor(config: MeshConfig) {
    this.#config = config;
    this.#log = config.log;
    this.self = config.name;
    this.#signingKey = config.signingKey ?? SigningKey.generate();
    this.keys = new PeerKeys({
      self: this.self,
      selfKey: this.#signingKey.publicKey,
      inUse: (name) => this.store.lookup(name) !== undefined,
    });
    this.timing = { ...DEFAULT_MESH_TIMING, ...config.timing };
    this.gossip = new Gossip(
      this.self,
      {
        neighbours: () => [...this.#conns.keys()].sort(),
        send: (to, m) => this.#conns.get(to)?.send(m) ?? false,
      },
      {
        unicastNextHop: (dest) => this.store.unicastNextHop(dest),
        broadcastNextHops: (source) => this.#broadcastNextHops(source),
      },
      this,
      {
        onRejected: (channel, from, e) =>
          this.#log.warn("gossip rejected", { channel, from, error: (e as Error).message ?? e }),
        onUnknownChannel: (channel, from) =>
          this.#log.debug("gossip for a channel not registered here", { channel, from }),
        onUnauthentic: (channel, from, source, check) =>
          this.topology.limited(`envelope-${check}`, "gossip dropped: not signed by its source", {
            channel,
            from,
            source,
            check,
          }),
      },
    );
    this.topology = new LocalTopology({
      id: { name: config.name, nickname: config.nickname, uid: this.uid },
      signer: this.#signingKey,
      keys: this.keys,
      gossip: this.gossip,
      log: this.#log,
    });
    this.store = this.topology.store;
    this.#topology = this.topology.channel;
    this.store.onChange(() => this.#onTopologyChange());
    this.store.onNameConflict((uid) =>
      this.#log.error(
        "another live peer uses our name: give each node a distinct --name (cloned machine id?)",
        { name: this.self, otherUid: uid },
      )
    );
    for (const p of config.peers) this.#addTarget(this.#normalise(p), "configured");
  }

  sign(domain: string, payload: Uint8Array): Uint8Array {
    return this.#signingKey.sign(domain, payload);
  }

  get publicKey(): Uint8Array {
    return this.#signingKey.publicKey;
  }

  vouchKey(name: PeerName, key: Uint8Array): { ok: true } | { ok: false; reason: string } {
    return this.keys.bind(name, key, "kube", Date.now());
  }

  trustOnlyVouchedKeys(): void {
    this.keys.kubeAuthority = true;
  }

  forgetPeer(name: PeerName): void {
    this.keys.forget(name, Date.now());
  }

  /** Against the key bound to `author` in `keys` (docs/PROTOCOL.md, "Authorship"). */
  verify(
    author: PeerName,
    domain: string,
    payload: Uint8Array,
    signature: Uint8Array,
  ): SignatureCheck {
    return this.keys.verify(author, domain, payload, signature);
  }

  /** Listens and starts dialling. Throws when the port cannot be bound. */
  start(): void {
    this.#listener = Deno.listen({ hostname: this.#config.host, port: this.#config.port });
    this.#log.info("listening for peers", {
      address: `${this.#config.host}:${this.#config.port}`,
      name: this.self,
      nickname: this.#config.nickname,
      encryption: this.#config.password !== null,
    });
    void this.#acceptLoop(this.#listener);
    for (const t of this.#targets.values()) this.#dial(t);
    this.#every(
      this.timing.antiEntropyMs,
      () => this.gossip.antiEntropy(ANTI_ENTROPY_FANOUT),
      true,
    );
    this.#every(Math.max(50, Math.min(this.timing.forgetAfterMs / 4, 10_000)), () => {
      for (const name of this.store.forgetUnreachable(Date.now(), this.timing.forgetAfterMs)) {
        this.#log.info("forgot unreachable peer", { peer: name });
      }
    }, false);
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    return (this.#listener?.addr as Deno.NetAddr | undefined)?.port ?? this.#config.port;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const p of this.#periodic) clearTimeout(p.timer);
    for (const t of this.#targets.values()) clearTimeout(t.timer);
    try {
      this.#listener?.close();
    } catch {
      // already closed
    }
    for (const c of this.#handshaking) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
    for (const c of this.#conns.values()) c.close("shutting down");
    // Let close handlers and pending writes settle.
    await new Promise((r) => setTimeout(r, 10));
  }

  // ---- MeshView ----

  peers(): PeerInfo[] {
    return [...this.store.entries()].map((e) => ({
      name: e.name,
      nickname: e.nickname,
      reachable: this.store.reachable(e.name),
    })).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  onChange(cb: () => void): () => void {
    const offTopology = this.store.onChange(cb);
    this.#keyListeners.add(cb);
    return () => {
      offTopology();
      this.#keyListeners.delete(cb);
    };
  }

  dataKey(peer: PeerName): DataKey | undefined {
    return this.#conns.get(peer)?.dataKey;
  }

  /** Cached per topology version by the store (recomputed lazily after a change). */
  nextHop(peer: PeerName): PeerName | undefined {
    return this.store.unicastNextHop(peer);
  }

  broadcastChildren(origin: PeerName): PeerName[] {
    return this.store.broadcastNextHops(origin) ?? [];
  }

  channel(name: string, gossiper: Gossiper): GossipChannel {
    return this.gossip.channel(name, gossiper);
  }

  /**
   * Replaces the addresses given by `setTargets` before (command-line peers stay). New ones are
   * dialled; dropped ones are no longer retried, but an established connection is kept.
   */
  setTargets(addresses: string[]): void {
    const next = new Set(addresses.map((a) => this.#normalise(a)));
    for (const [address, t] of this.#targets) {
      if (t.origin === "dynamic" && !next.has(address)) {
        clearTimeout(t.timer);
        this.#targets.delete(address);
      }
    }
    for (const address of next) {
      const fresh = !this.#targets.has(address);
      const t = this.#addTarget(address, "dynamic");
      if (fresh && this.#listener) this.#dial(t);
    }
  }

  // ---- status ----

  connectionCount(): number {
    return this.#conns.size;
  }

  status(): MeshStatus {
    const nick = (n: PeerName) => this.store.lookup(n)?.nickname ?? "";
    const connections: ConnectionStatus[] = [];
    for (const c of this.#conns.values()) {
      connections.push({
        direction: c.outbound ? "outbound" : "inbound",
        address: `${c.remoteAddr.hostname}:${c.remoteAddr.port}`,
        state: "established",
        encrypted: c.encrypted,
        name: c.remote.name,
        nickname: c.remote.nickname,
      });
    }
    for (const t of this.#targets.values()) {
      if (t.state === "established") continue;
      connections.push({
        direction: "outbound",
        address: t.address,
        state: t.state,
        encrypted: this.#config.password !== null,
        name: t.peer,
        nickname: t.peer ? nick(t.peer) : undefined,
        reason: t.reason,
        retryAt: t.retryAt ? new Date(t.retryAt).toISOString() : undefined,
      });
    }
    const peers: PeerStatus[] = [...this.store.entries()].map((e) => ({
      name: e.name,
      nickname: e.nickname,
      uid: e.uid,
      version: e.version,
      reachable: this.store.reachable(e.name),
      connections: e.connections.map((c) => ({
        name: c.name,
        nickname: nick(c.name),
        address: c.address,
        outbound: c.outbound,
        established: c.established &&
          (this.store.lookup(c.name)?.connections.some((b) => b.name === e.name && b.established) ??
            false),
      })),
    })).sort((
      a,
      b,
    ) => (a.name === this.self ? -1 : b.name === this.self ? 1 : a.name < b.name ? -1 : 1));
    return {
      name: this.self,
      nickname: this.#config.nickname,
      uid: this.uid,
      protocol: `weavets ${PROTOCOL_MIN}..${PROTOCOL_MAX}`,
      encryption: this.#config.password !== null,
      peerDiscovery: true,
      connLimit: this.#config.connLimit,
      listen: `${this.#config.host}:${this.port}`,
      targets: [...this.#targets.values()].filter((t) => t.origin !== "discovered").map((t) =>
        t.address
      ),
      connections,
      peers,
      routes: Object.fromEntries(this.store.routes()),
    };
  }

  // ---- connections ----

  #identity(): Identity {
    return { name: this.self, nickname: this.#config.nickname, uid: this.uid, port: this.port };
  }

  #normalise(address: string): string {
    const { host, port } = parsePeerAddress(address, DEFAULT_PORT);
    return `${host}:${port}`;
  }

  #addTarget(address: string, origin: Target["origin"]): Target {
    let t = this.#targets.get(address);
    if (!t) {
      t = { address, origin, state: "retrying", attempt: 0 };
      this.#targets.set(address, t);
    } else if (t.origin === "discovered" || origin === "configured") t.origin = origin;
    return t;
  }

  /** Outbound connections being set up (inbound ones have their own cap, MAX_INBOUND_HANDSHAKES). */
  #pendingCount(): number {
    return this.#handshaking.size - this.#inboundHandshakes;
  }

  async #acceptLoop(listener: Deno.TcpListener): Promise<void> {
    while (!this.#stopped) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (!this.#stopped) this.#log.error("accept failed", { error: (e as Error).message });
        return;
      }
      const from = `${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`;
      // Unauthenticated sockets get their own small budget, so a flood of them can hold up other
      // inbound handshakes but never the established connections or our own dials.
      const full = this.#conns.size + this.#pendingCount() >= this.#config.connLimit;
      if (full || this.#inboundHandshakes >= MAX_INBOUND_HANDSHAKES) {
        this.#log.warn("connection refused", {
          from,
          reason: full
            ? `connection limit ${this.#config.connLimit} reached`
            : "too many handshakes in progress",
        });
        conn.close();
        continue;
      }
      // Failures are logged in #handshake; the socket is already closed.
      this.#handshake(conn, false, from).then((c) => c && this.#safeAdmit(c, null), () => {});
    }
  }

  async #handshake(
    conn: Deno.TcpConn,
    outbound: boolean,
    address: string,
  ): Promise<ControlConnection | null> {
    this.#handshaking.add(conn);
    if (!outbound) this.#inboundHandshakes++;
    try {
      return await ControlConnection.handshake(conn, outbound, {
        self: this.#identity(),
        password: this.#config.password,
        timing: this.timing,
      });
    } catch (e) {
      const err = e as HandshakeError;
      const fields = { address, direction: outbound ? "outbound" : "inbound", reason: err.message };
      if (err.permanent) this.#log.warn("connection refused", fields);
      else this.#log.info("handshake failed", fields);
      throw e;
    } finally {
      this.#handshaking.delete(conn);
      if (!outbound) this.#inboundHandshakes--;
    }
  }

  #dial(t: Target): void {
    if (this.#stopped || t.state === "connecting" || this.#targets.get(t.address) !== t) return;
    clearTimeout(t.timer);
    if (t.peer && this.#conns.has(t.peer)) {
      t.state = "established";
      t.reason = undefined;
      return;
    }
    if (this.#conns.size + this.#pendingCount() >= this.#config.connLimit) {
      this.#retry(t, "connection limit reached", false);
      return;
    }
    t.state = "connecting";
    t.lastAttempt = Date.now();
    t.reason = undefined;
    t.retryAt = undefined;
    const { host, port } = parsePeerAddress(t.address, DEFAULT_PORT);
    void (async () => {
      let conn: Deno.TcpConn;
      try {
        conn = await connectWithTimeout(host, port, this.timing.dialTimeoutMs);
      } catch (e) {
        this.#retry(t, (e as Error).message, false);
        return;
      }
      if (this.#stopped) return conn.close();
      let c: ControlConnection | null;
      try {
        c = await this.#handshake(conn, true, t.address);
      } catch (e) {
        this.#retry(t, (e as Error).message, (e as HandshakeError).permanent ?? false);
        return;
      }
      if (c) this.#safeAdmit(c, t);
    })();
  }

  #retry(t: Target, reason: string, permanent: boolean): void {
    if (this.#stopped || this.#targets.get(t.address) !== t) return;
    const delay = backoffDelay(t.attempt++, this.timing.backoff);
    t.state = permanent ? "failed" : "retrying";
    t.reason = reason;
    t.retryAt = Date.now() + delay;
    clearTimeout(t.timer);
    t.timer = setTimeout(() => this.#dial(t), delay);
    this.#log.debug("will retry", { address: t.address, reason, delayMs: delay });
  }

  #admit(c: ControlConnection, target: Target | null): void {
    const r = c.remote;
    const address = `${c.remoteAddr.hostname}:${r.port}`;
    if (this.#stopped) return c.close("shutting down");
    if (r.name === this.self) {
      if (r.uid !== this.uid) {
        this.#log.error("a peer at this address uses our name: give each node a distinct --name", {
          address,
          name: this.self,
        });
      }
      c.close(r.uid === this.uid ? "connected to ourself" : "the peer uses our name");
      if (target) {
        this.#log.info("not dialling this address again", { address: target.address });
        clearTimeout(target.timer);
        this.#targets.delete(target.address);
      }
      return;
    }
    // An inbound connection from a peer we were also told to dial satisfies that target.
    target ??= this.#targets.get(address) ?? null;
    if (target) target.peer = r.name;
    const existing = this.#conns.get(r.name);
    if (existing) {
      if (existing.remote.uid === r.uid) {
        const initiator = (x: ControlConnection) => (x.outbound ? this.self : r.name);
        // Deterministic on both ends: keep the connection dialled by the peer with the lower name.
        const keepNew = initiator(c) < initiator(existing);
        const loser = keepNew ? existing : c;
        const reason = `duplicate connection to ${r.name}: keeping the one initiated by ${
          initiator(keepNew ? c : existing)
        }`;
        this.#log.info("duplicate connection", {
          peer: r.name,
          keeping: initiator(keepNew ? c : existing),
        });
        if (!keepNew) {
          loser.close(reason);
          if (target) this.#markEstablished(target);
          return;
        }
        this.#conns.delete(r.name);
        loser.close(reason);
      } else {
        this.#log.info("peer restarted: replacing its old connection", { peer: r.name });
        this.#conns.delete(r.name);
        existing.close("peer restarted");
      }
    }
    if (this.#conns.size >= this.#config.connLimit) {
      c.close("connection limit reached");
      if (target) this.#retry(target, "connection limit reached", false);
      return;
    }
    this.#conns.set(r.name, c);
    if (target) this.#markEstablished(target);
    this.#log.info("connection established", {
      peer: r.name,
      nickname: r.nickname,
      address,
      direction: c.outbound ? "outbound" : "inbound",
      encrypted: c.encrypted,
      protocol: c.version,
    });
    c.start({
      onMessage: (m: Message, size: number) => this.gossip.receive(r.name, m, size),
      onClose: (reason) => this.#onClosed(c, reason),
    });
    if (c.closed) return;
    this.#updateOwnEntry();
    if (c.dataKey) this.#dataKeyChanged();
    this.gossip.neighbourUp(r.name);
  }

  /**
   * A peer's data key came, changed or went. The topology may not change with it (a restarted
   * peer reconnecting from the same address leaves our connection list as it was).
   */
  #dataKeyChanged(): void {
    for (const cb of [...this.#keyListeners]) {
      try {
        cb();
      } catch (e) {
        this.#log.error("topology change listener failed", { error: (e as Error).message ?? e });
      }
    }
  }

  /**
   * Where gossip relays a broadcast from `source`: its children in source's tree, plus every
   * neighbour whose end of the connection has not reached the topology here yet. No tree holds
   * such a neighbour, so news passing by in that window would otherwise wait for anti-entropy
   * (a line a - b - c coming up at once left c without a's entry for 30 s). For this peer's own
   * broadcasts that is every connected neighbour.
   */
  #broadcastNextHops(source: PeerName): PeerName[] | null {
    const tree = this.store.broadcastNextHops(source);
    if (tree === null) return null; // gossip floods to every neighbour
    const unconfirmed = [...this.#conns.keys()].filter((n) =>
      !(this.store.lookup(n)?.connections.some((c) => c.name === this.self && c.established) ??
        false)
    );
    return unconfirmed.length === 0 ? tree : [...new Set([...tree, ...unconfirmed])].sort();
  }

  /** Admission never throws into a promise nobody awaits: a bug here closes one connection. */
  #safeAdmit(c: ControlConnection, target: Target | null): void {
    try {
      this.#admit(c, target);
    } catch (e) {
      this.#log.error("admitting a connection failed", {
        peer: c.remote.name,
        error: (e as Error).message ?? e,
      });
      c.close("internal error");
    }
  }

  #markEstablished(t: Target): void {
    clearTimeout(t.timer);
    t.state = "established";
    t.attempt = 0;
    t.reason = undefined;
    t.retryAt = undefined;
  }

  #onClosed(c: ControlConnection, reason: string): void {
    const name = c.remote.name;
    if (this.#conns.get(name) !== c) return; // a duplicate that lost, or replaced
    this.#conns.delete(name);
    this.counters.terminations++;
    this.#log.info("connection closed", { peer: name, reason });
    if (this.#stopped) return;
    this.#updateOwnEntry();
    if (c.dataKey) this.#dataKeyChanged();
    for (const t of this.#targets.values()) {
      if (t.peer === name && t.state === "established") {
        t.attempt = 0;
        this.#retry(t, `connection closed: ${reason}`, false);
      }
    }
  }

  #updateOwnEntry(): void {
    const records: ConnectionRecord[] = [...this.#conns.values()].map((c) => ({
      name: c.remote.name,
      address: `${c.remoteAddr.hostname}:${c.remote.port}`,
      outbound: c.outbound,
      established: true,
    }));
    this.store.setConnections(records);
  }

  #onTopologyChange(): void {
    // Our own entry changed (new connection set, or a jump past an older life): spread it.
    if (this.store.own.version !== this.#broadcastVersion) {
      this.#broadcastVersion = this.store.own.version;
      this.#topology.broadcast(encodeUpdate([this.store.own]));
    }
    if (!this.#discoveryQueued) {
      this.#discoveryQueued = true;
      queueMicrotask(() => {
        this.#discoveryQueued = false;
        if (!this.#stopped) this.#discover();
      });
    }
  }

  /** Dials addresses of peers we know of but are not connected to; drops stale discoveries. */
  #discover(): void {
    const wanted = new Map<string, PeerName>();
    for (const e of this.store.entries()) {
      for (const c of e.connections) {
        if (c.name === this.self || this.#conns.has(c.name) || !c.established) continue;
        wanted.set(c.address, c.name);
      }
    }
    for (const [address, t] of this.#targets) {
      if (t.origin !== "discovered" || t.state === "established" || t.state === "connecting") {
        continue;
      }
      if (!wanted.has(address)) {
        clearTimeout(t.timer);
        this.#targets.delete(address);
      }
    }
    for (const [address, name] of wanted) {
      const known = this.#targets.get(address);
      if (known) {
        // Another peer just reported a connection to this address, so it is up now: a target
        // backing off after a transient failure (it was not listening yet) tries again at once,
        // at most once per base delay.
        const since = Date.now() - (known.lastAttempt ?? 0);
        if (known.state === "retrying" && since >= this.timing.backoff.baseMs) {
          this.#log.debug("peer reported up: retrying now", { address, peer: name });
          this.#dial(known);
        }
        continue;
      }
      if (this.#conns.size + this.#pendingCount() >= this.#config.connLimit) break;
      const t = this.#addTarget(address, "discovered");
      t.peer = name;
      this.#log.debug("discovered peer", { peer: name, address });
      this.#dial(t);
    }
  }

  #every(ms: number, fn: () => void, jitter: boolean): void {
    const slot: { timer?: ReturnType<typeof setTimeout> } = {};
    this.#periodic.push(slot);
    const schedule = () => {
      const delay = jitter ? ms * (0.75 + Math.random() * 0.5) : ms;
      slot.timer = setTimeout(() => {
        if (this.#stopped) return;
        try {
          fn();
        } catch (e) {
          this.#log.error("periodic task failed", { error: (e as Error).message });
        }
        schedule();
      }, delay);
    };
    schedule();
  }
}

/** Dials with a time limit; a connection that completes after the limit is closed. */
function connectWithTimeout(hostname: string, port: number, ms: number): Promise<Deno.TcpConn> {
  const dial = Deno.connect({ hostname, port });
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      dial.then((c) => c.close(), () => {});
      reject(new Error(`dial timed out after ${ms} ms`));
    }, ms);
  });
  return Promise.race([dial, timeout]).finally(() => clearTimeout(timer));
}
