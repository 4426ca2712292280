/**
 * The mesh: the conductor around the pure parts. The sockets are control_port.ts's; what to dial
 * comes from ConnectionMaker (when: tick.ts), who may connect from admission.ts, status from
 * status.ts. It keeps one timer, gossips the topology (itself a gossip channel) and the channels
 * components register, and implements MeshView. Time and sockets come from its runtime.ts.
 */
import { describeCause } from "../cause.ts";
import type { Logger } from "../log.ts";
import type { ControlConnection } from "./connection.ts";
import { ConnectionMaker, corroboratedAddresses } from "./connection_maker.ts";
import { ChangeNotifier, DEFAULT_NOTIFY_INTERVAL_MS } from "./change_notifier.ts";
import { type Periodic, startPeriodic } from "./periodic.ts";
import { planTick } from "./tick.ts";
import { type MeshRuntime, meshRuntime } from "./runtime.ts";
import { gossipRoutes } from "./routes.ts";
import { ControlPort } from "./control_port.ts";
import { derivePsk } from "./crypto.ts";
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
import { PeerKeys } from "./keys.ts";
import { type MeshCounters, Refusals } from "./refusals.ts";
import {
  ANTI_ENTROPY_FANOUT,
  controlAuthOf,
  DEFAULT_LIMITS,
  DEFAULT_MESH_TIMING,
  discoveryPortOf,
  frameBudgets,
  type MeshConfig,
  type MeshTiming,
} from "./mesh_config.ts";
import { normalisePeerAddress } from "./peer_address.ts";
import { randomUid } from "./peer_name.ts";
import { SigningKey } from "./signing.ts";
import { statusSnapshot } from "./status_snapshot.ts";
import {
  type ControlAuth,
  type MeshStatus,
  meshStatus,
  type MeshSummary,
  meshSummary,
  type StatusSnapshot,
} from "./status.ts";
import { encodeUpdate } from "./topology.ts";
import { LocalPeer } from "./local_peer.ts";
import type { TopologyStore } from "./topology_store.ts";
import { mutuallyTrusted, TrustedSubnets } from "./trust.ts";
import { gossipEvents, LocalTopology } from "./local_topology.ts";

export type { MeshConfig, MeshTiming } from "./mesh_config.ts";
export { ANTI_ENTROPY_FANOUT, DEFAULT_MESH_TIMING } from "./mesh_config.ts";

export class Mesh implements MeshView {
  readonly self: PeerName;
  readonly uid = randomUid();
  readonly store: TopologyStore;
  /** The topology channel and its store, with authorship checks (local_topology.ts). */
  readonly topology: LocalTopology;
  readonly gossip: Gossip;
  readonly counters: MeshCounters;
  readonly timing: MeshTiming;
  readonly controlAuth: ControlAuth;
  readonly #config: MeshConfig;
  readonly #log: Logger;
  readonly #signingKey: SigningKey;
  /** Peers' bound signing keys (net/mesh/keys.ts): the handshake binds each peer's. */
  readonly keys: PeerKeys;
  readonly #maker: ConnectionMaker;
  readonly #refusals: Refusals;
  readonly #conns: LocalPeer;
  /** onChange subscribers: told of topology changes and of data keys that come or go. */
  readonly #notifier: ChangeNotifier;
  readonly #port: ControlPort;
  #stopped = false;
  #broadcastVersion = 0;
  #kickQueued = false;
  #timer: unknown = undefined;
  /** The clock, transport and randomness (the system's, or a test's virtual ones). */
  readonly #rt: MeshRuntime;
  #periodic: Periodic = { nextAntiEntropy: Infinity, nextForget: Infinity };

  constructor(config: MeshConfig) {
    this.#config = config;
    this.#log = config.log;
    this.self = config.name;
    const rt = this.#rt = meshRuntime(config.runtime), { clock } = rt;
    this.#refusals = new Refusals(this.#log, () => clock.now());
    this.#notifier = new ChangeNotifier({
      minIntervalMs: DEFAULT_NOTIFY_INTERVAL_MS,
      now: () => clock.now(),
      setTimer: (fn, ms) => clock.setTimeout(fn, ms),
      clearTimer: (h) => clock.clearTimeout(h),
      onError: (e) =>
        this.#log.error("topology change listener failed", { error: describeCause(e) ?? e }),
    });
    this.counters = { terminations: 0, refusals: this.#refusals.counts };
    this.#signingKey = config.signingKey ?? SigningKey.generate();
    this.keys = new PeerKeys({
      self: this.self,
      selfKey: this.#signingKey.publicKey,
      inUse: (name) => this.store.lookup(name) !== undefined,
    });
    this.controlAuth = controlAuthOf(config);
    const psk = derivePsk(config.password ?? config.clusterSecret ?? null);
    const trusted = new TrustedSubnets(config.trustedSubnets ?? []);
    this.timing = { ...DEFAULT_MESH_TIMING, ...config.timing };
    this.#maker = new ConnectionMaker({
      backoff: this.timing.backoff,
      random: rt.random,
      discoveryPort: discoveryPortOf(config),
      discoverOnlyTargetHosts: config.discoverOnlyTargetHosts ?? false,
      maxDiscovered: config.discovery === false ? 0 : 64,
    });
    this.#maker.setTargets(config.peers.map((p) => normalisePeerAddress(p)), "configured");
    this.#conns = new LocalPeer({
      self: { name: this.self, uid: this.uid },
      connLimit: config.connLimit,
      keys: this.keys,
      maker: this.#maker,
      refusals: this.#refusals,
      log: this.#log,
      now: () => clock.now(),
      stopped: () => this.#stopped,
      onUp: (c) => {
        this.store.setConnections(this.#conns.records());
        if (config.password !== null) this.#notifier.changed();
        this.gossip.neighbourUp(c.remote.name);
      },
      onDown: (c, reason) => this.#down(c, reason),
      onMessage: (from, m, size) => this.gossip.receive(from, m, size),
      kick: () => this.#kick(),
    });
    this.#port = new ControlPort({
      host: config.host,
      port: config.port,
      limits: { ...DEFAULT_LIMITS, ...config.limits, connLimit: config.connLimit },
      dialTimeoutMs: this.timing.dialTimeoutMs,
      budgets: frameBudgets(),
      log: this.#log,
      ...rt,
      connection: (host) => ({
        self: { name: this.self, nickname: config.nickname, uid: this.uid, port: this.port },
        signingKey: this.#signingKey,
        psk,
        authenticated: this.controlAuth !== "none",
        trustRemote: trusted.contains(host),
        timing: this.timing,
      }),
      established: () => this.#conns.size,
      knownSource: (host) => this.#maker.isTargetHost(host),
    }, {
      handshaken: (c, target) => this.#conns.admit(c, target),
      dialFailed: (address, reason, permanent) => {
        this.#maker.dialFailed(address, reason, permanent, clock.now());
        this.#kick();
      },
      refused: (kind, reason, source, fields) =>
        this.#refusals.record(kind, reason, source, fields),
    });
    this.gossip = new Gossip(
      this.self,
      {
        neighbours: () => this.#conns.names().sort(),
        send: (to, m) => this.#conns.get(to)?.send(m) ?? false,
      },
      gossipRoutes(() => this.store, this.self, () => this.#conns.names()),
      this,
      gossipEvents(
        this.#log,
        (kind, message, fields) => this.topology.limited(kind, message, fields),
      ),
    );
    this.topology = new LocalTopology({
      id: { name: config.name, nickname: config.nickname, uid: this.uid },
      signer: this.#signingKey,
      keys: this.keys,
      gossip: this.gossip,
      log: this.#log,
      now: () => clock.now(),
      defer: (fn, ms) => void clock.setTimeout(fn, ms),
    });
    this.store = this.topology.store;
    this.store.onChange(() => this.#onTopologyChange());
    this.store.onChange(() => this.#notifier.changed());
    this.#notifier.subscribe(() => this.#discover());
  }

  sign(domain: string, payload: Uint8Array): Uint8Array {
    return this.#signingKey.sign(domain, payload);
  }

  get publicKey(): Uint8Array {
    return this.#signingKey.publicKey;
  }

  vouchKey(name: PeerName, key: Uint8Array): { ok: true } | { ok: false; reason: string } {
    return this.keys.bind(name, key, "kube", this.#rt.clock.now());
  }

  trustOnlyVouchedKeys(): void {
    this.keys.kubeAuthority = true;
  }

  forgetPeer(name: PeerName): void {
    this.keys.forget(name, this.#rt.clock.now());
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
    this.#port.listen();
    this.#log.info("listening for peers", {
      address: `${this.#config.host}:${this.#config.port}`,
      name: this.self,
      nickname: this.#config.nickname,
      encryption: this.#config.password !== null,
      controlAuth: this.controlAuth,
    });
    this.#periodic = startPeriodic(this.#rt.clock.now(), this.timing, this.#rt.random);
    this.#tick();
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    return this.#port.port;
  }

  /** Closes everything and waits until every socket and handler has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#rt.clock.clearTimeout(this.#timer);
    this.#notifier.stop();
    const conns = this.#conns.all();
    for (const c of conns) c.close("shutting down");
    await Promise.allSettled([this.#port.close(), ...conns.map((c) => c.finished)]);
  }

  // ---- MeshView ----

  peers(): PeerInfo[] {
    return [...this.store.entries()].map((e) => ({
      name: e.name,
      nickname: e.nickname,
      reachable: this.store.reachable(e.name),
    })).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Told soon after changes, in a task of its own and coalesced (change_notifier.ts). */
  onChange(cb: () => void): () => void {
    return this.#notifier.subscribe(cb);
  }

  /** Only when the operator asked for data-path encryption (a password). */
  dataKey(peer: PeerName): DataKey | undefined {
    return this.#config.password !== null ? this.#conns.get(peer)?.dataKey : undefined;
  }

  trusted(peer: PeerName): boolean {
    return mutuallyTrusted(this.#conns.get(peer)?.trust);
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
    this.#maker.setTargets(addresses.map((a) => normalisePeerAddress(a)), "dynamic");
    this.#kick();
  }

  /** The command-line peers; Weave's POST /connect and /forget change them (net/api). */
  configuredTargets(): string[] {
    return this.#maker.targets().filter((t) => t.origin === "configured").map((t) => t.address);
  }

  setConfiguredTargets(addresses: string[]): void {
    this.#maker.setTargets(addresses.map((a) => normalisePeerAddress(a)), "configured");
    this.#kick();
  }

  connectionCount(): number {
    return this.#conns.size;
  }

  status(): MeshStatus {
    return meshStatus(this.#snapshot());
  }

  /** What `GET /status` shows: counts only, without computing routes (status.ts). */
  summary(): MeshSummary {
    return meshSummary(this.#snapshot());
  }

  #snapshot(): StatusSnapshot {
    return statusSnapshot(this, this.#config, this.#conns.all(), this.#maker.targets());
  }

  // ---- the timer ----

  /** Runs what is due and sets the one timer to the earliest next thing (tick.ts decides). */
  #tick(): void {
    if (this.#stopped) return;
    const { clock, random } = this.#rt;
    clock.clearTimeout(this.#timer);
    const now = clock.now();
    const t = planTick(this.#maker, {
      now,
      periodic: this.#periodic,
      timing: this.timing,
      random,
      connLimit: this.#config.connLimit,
      established: this.#conns.size,
      outboundPending: this.#port.outboundPending,
    });
    this.#periodic = t.periodic;
    try {
      if (t.antiEntropy) this.gossip.antiEntropy(ANTI_ENTROPY_FANOUT);
      if (t.forget) {
        for (const name of this.store.forgetUnreachable(now, this.timing.forgetAfterMs)) {
          this.#log.info("forgot unreachable peer", { peer: name });
        }
      }
    } catch (e) {
      this.#log.error("periodic task failed", { error: describeCause(e) });
    }
    for (const address of t.dial) this.#port.dial(address);
    this.#timer = clock.setTimeout(() => this.#tick(), Math.max(0, t.wakeAt - clock.now()));
  }

  /** Re-runs the tick soon after an event (coalesced). */
  #kick(): void {
    if (this.#kickQueued || !this.#port.listening) return;
    this.#kickQueued = true;
    queueMicrotask(() => {
      this.#kickQueued = false;
      this.#tick();
    });
  }

  // ---- connections ----

  #down(c: ControlConnection, reason: string): void {
    const name = c.remote.name;
    this.counters.terminations++;
    this.#log.info("connection closed", { peer: name, reason });
    if (this.#stopped) return;
    this.store.setConnections(this.#conns.records());
    // A data key went; the topology may not change with it (a restarted peer reconnecting from
    // the same address leaves our connection list as it was).
    if (this.#config.password !== null) this.#notifier.changed();
    this.#maker.disconnected(name, reason, this.#rt.clock.now());
    this.#kick();
  }

  #onTopologyChange(): void {
    // Our own entry changed (new connection set, or a jump past an older life): spread it.
    if (this.store.own.version !== this.#broadcastVersion) {
      this.#broadcastVersion = this.store.own.version;
      this.topology.channel.broadcast(encodeUpdate([this.store.own]));
    }
    if (!this.#stopped) this.#kick();
  }

  /**
   * Discovery reads every connection record of the topology (10-30 ms with a maximal one), so it
   * runs with the components, coalesced to once per notifier interval, not on every change: a
   * full state verified in slices changes the store every slice, and this work per slice, outside
   * the slice's budget, held /status behind it (issue 12).
   */
  #discover(): void {
    if (this.#stopped) return;
    this.#maker.discovered(
      corroboratedAddresses(this.store.entries(), this.self, (n) => this.#conns.has(n)),
      this.#rt.clock.now(),
    );
    this.#kick();
  }
}
