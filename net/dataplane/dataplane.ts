/**
 * The data plane as a daemon component: sets up the node (bridge, forwarding, masquerading),
 * runs the fast path (VXLAN, FDB from gossip) and the userspace path (TAP + Workers), gossips
 * this peer's underlay address and pod MACs on the mesh channel "macs", and keeps the kernel state
 * reconciled with what peers announce.
 */
import type { DataKey, GossipChannel, MeshView, PeerName } from "../mesh/gossip_channel.ts";
import { type ApiRoute, jsonResponse } from "../api/route.ts";
import type { Registry } from "../api/metrics.ts";
import type { StatusSection } from "../mesh/status_text.ts";
import { log as rootLog } from "../log.ts";
import {
  deleteFdb,
  findLink,
  listAddresses,
  listFdb,
  listLinks,
  listRoutes,
} from "../linux/mod.ts";
import { aeadBackend } from "./sleeve/aead.ts";
import { ensureBridge } from "./node/bridge.ts";
import { desiredFdb, type FdbEntry } from "./fastpath/fdb.ts";
import { actualFdb, ensureVxlan, reconcileFdb, vxlanName } from "./fastpath/vxlan.ts";
import {
  authenticate,
  compareRecords,
  decodeRecords,
  encodeRecords,
  MacGossipState,
  mustReassert,
  nextVersion,
  type SignedRecord,
  signRecord,
} from "./fastpath/mac_gossip.ts";
import { LogLimiter } from "../mesh/log_limit.ts";
import { applyMasquerade, applySplitHorizon } from "./node/netfilter.ts";
import { fastPathUp, probeMac, shouldProbeBack } from "./fastpath/probe.ts";
import { chooseMtu, type MtuChoice } from "./node/mtu.ts";
import { Sleeve, type SleeveOptions } from "./sleeve/sleeve.ts";
import type { SleeveStats } from "./sleeve/messages.ts";
import { sleeveMetrics, sleeveStatusFields } from "./sleeve/report.ts";
import { pickUnderlay, type Underlay } from "./node/underlay.ts";

export const MAC_CHANNEL = "macs";

export interface DataplaneOptions {
  /** Bridge name (--bridge), default "weave". */
  bridge?: string;
  /** The bridge's address (--bridge-cidr until IPAM provides the expose address). */
  bridgeCidr?: string;
  /** The pod range; when set, traffic leaving it is masqueraded. */
  podCidr?: string;
  /** NO_MASQ_LOCAL: the local peer's ranges, read at each rule refresh. */
  localRanges?: () => string[];
  /** Use the kernel VXLAN fast path (false: --no-fastdp / WEAVE_NO_FASTDP). Default true. */
  fastdp?: boolean;
  fastdpPort?: number;
  sleevePort?: number;
  vni?: number;
  /** --mtu / WEAVE_MTU. */
  mtu?: number;
  /**
   * True when the mesh has a password: the userspace path is encrypted, with keys from each
   * control connection's session (MeshView.dataKey), and encrypted peers never use VXLAN.
   */
  encrypted?: boolean;
  /**
   * Weave's --trusted-subnets (canonical CIDRs, from net/daemon/config.ts): peers whose underlay
   * address is inside one may take the unencrypted fast path even with a password. NOT YET
   * CONSUMED: with a password every peer is encrypted (docs/WEAVE-COMPAT.md says so).
   */
  trustedSubnets?: readonly string[];
  /** After a reconnection, how long the previous connection's key still opens (default 10 s). */
  keyGraceMs?: number;
  /** The node's underlay address (default: the default route's interface address). */
  underlayAddr?: string;
  tapName?: string;
  macTtlMs?: number;
  /** The userspace path's Worker modules (tests substitute ones that can be made to fail). */
  sleeveWorkerUrl?: SleeveOptions["workerUrl"];
  /** How often local MACs are looked up and the kernel state re-checked. */
  pollMs?: number;
  reconcileMs?: number;
  /**
   * After a (re)start, FDB entries towards peers not heard from yet are kept this long (default
   * 30 s): a restarted daemon must not tear down fast-path state before gossip has caught up.
   */
  adoptGraceMs?: number;
  /** Fast-path probe interval, and how long without a reply before a pair falls back. */
  probeMs?: number;
  probeTimeoutMs?: number;
  /** Called when peers' records changed (the input allow-list follows their addresses). */
  onPeerRecords?: () => void;
}

export type PathName = "fastdp" | "sleeve";

export interface PeerPath {
  peer: PeerName;
  /** The version of the peer's signed macs record this path was planned from. */
  version: number;
  addr: string;
  path: PathName;
  reason: string;
}

export interface DataplaneStatus {
  ready: boolean;
  underlay?: Underlay;
  mtu?: MtuChoice;
  fastdp: boolean;
  encrypted: boolean;
  localMacs: string[];
  peers: PeerPath[];
  sleeve?: SleeveStats;
  /** Why the userspace path's Workers are not all running (null: they are), and restarts. */
  sleeveHealth?: string | null;
  sleeveRestarts?: { tx: number; rx: number };
  /** Kernel offloads the userspace path got: UDP GSO/GRO on its socket. */
  sleeveOffloads?: { gso: boolean; gro: boolean };
}

/** The data plane as a daemon component (it satisfies net/daemon/component.ts structurally). */
export interface Dataplane {
  readonly name: "dataplane";
  start(mesh: MeshView): Promise<void>;
  stop(): Promise<void>;
  ready(): string | null;
  routes(): ApiRoute[];
  metrics(registry: Registry): void;
  /** `weavets status` section. */
  status(): StatusSection;
  /** Everything known, as JSON (GET /report section and GET /status/dataplane). */
  report(): DataplaneStatus;
  /** "fastdp" or "sleeve" for a peer the data plane carries traffic to. */
  dataPath(peer: PeerName): string | undefined;
  /** Why that path: e.g. "fast path probes unanswered for 12 s". */
  dataPathReason(peer: PeerName): string | undefined;
  /** Every peer's record as gossiped: where it sends from (node/input_filter.ts allows those). */
  peerRecords(): ReadonlyArray<{ peer: PeerName; addr: string }>;
}

function randomEpoch(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(8)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

export function createDataplane(opts: DataplaneOptions = {}): Dataplane {
  const log = rootLog.with({ component: "dataplane" });
  const bridge = opts.bridge ?? "weave";
  const fastdp = (opts.fastdp ?? true) && !opts.encrypted;
  const fastdpPort = opts.fastdpPort ?? 6784;
  const sleevePort = opts.sleevePort ?? 6783;
  const vxlan = vxlanName(fastdpPort);
  const tapName = opts.tapName ?? "vethwe-tap";
  const state = new MacGossipState();
  const epoch = randomEpoch();
  let mesh: MeshView | undefined;
  let channel: GossipChannel | undefined;
  let sleeve: Sleeve | undefined;
  let underlay: Underlay | undefined;
  let mtu: MtuChoice | undefined;
  let mine: SignedRecord | undefined;
  /** Records refused on the "macs" channel, by reason (weavets_macs_records_refused_total). */
  const refusedRecords = { invalid: 0, "unknown-author": 0, jump: 0 };
  const refusalLog = new LogLimiter(10_000);
  let paths: PeerPath[] = [];
  const count = (path: PathName) => paths.filter((p) => p.path === path).length;
  let started = false;
  let startedAt = 0;
  /** Peers whose fast path is kept while their control connection is down. */
  const frozen = new Set<PeerName>();
  /** When each peer last answered a fast-path probe. */
  const lastReply = new Map<PeerName, number>();
  const probeOwner = new Map<string, PeerName>();
  /** When each peer was last probed back out of schedule (onProbeRequest). */
  const probedBack = new Map<PeerName, number>();
  let probeSeq = 0;
  const probeTimeout = opts.probeTimeoutMs ?? 5000;
  const adoptedAddrs = new Set<string>();
  const timers: ReturnType<typeof setInterval>[] = [];
  let unsubscribe: (() => void) | undefined;

  function localMacs(): string[] {
    const br = findLink(bridge);
    if (!br) return [];
    const skip = new Set([findLink(vxlan)?.index, findLink(tapName)?.index, br.index]);
    const macs = new Set<string>();
    for (const e of listFdb()) {
      if (e.bridge === br.index && !e.permanent && !skip.has(e.dev) && e.mac) macs.add(e.mac);
    }
    return [...macs].sort();
  }

  /** Signs and announces this peer's record, above any record of its own `seen` on the wire. */
  function publish(macs: string[], seen = 0): void {
    const m = mesh!;
    mine = signRecord({
      peer: m.self,
      version: nextVersion(mine?.record.version ?? 0, Date.now(), seen),
      addr: underlay!.addr,
      sleevePort,
      fastdpPort,
      fastdp,
      macs,
    }, (d, p) => m.sign(d, p));
    state.putOwn(mine);
    channel?.broadcast(encodeRecords([mine]));
  }

  /** Counts a refused record; a line per reason at most every 10 s (a flood costs no log). */
  function refuse(reason: keyof typeof refusedRecords, from: PeerName, peer: PeerName): void {
    refusedRecords[reason]++;
    if (reason === "unknown-author") return; // no blame: its key is not known here yet
    const r = refusalLog.allow(reason, Date.now());
    if (!r.log) return;
    log.warn(
      reason === "invalid"
        ? "macs record dropped: not signed by the peer it describes (a forgery or corruption)"
        : "macs record dropped: its version jumps too far ahead of the one held",
      { from, peer, reason, suppressedSinceLast: r.suppressed },
    );
  }

  /** Merges a "macs" message; returns what was new (to pass on), or null. */
  function receive(m: MeshView, from: PeerName, data: Uint8Array): Uint8Array | null {
    const { others, own, dropped } = authenticate(
      decodeRecords(data),
      m.self,
      (a, d, p, sig) => m.verify(a, d, p, sig),
    );
    for (const d of dropped) refuse(d.reason, from, d.peer);
    const { fresh, jumped } = state.merge(others);
    for (const p of jumped) refuse("jump", from, p);
    for (const r of fresh) {
      if (adoptedAddrs.delete(r.record.addr) && !lastReply.has(r.record.peer)) {
        lastReply.set(r.record.peer, startedAt);
      }
    }
    const top = own.reduce<SignedRecord | undefined>(
      (a, b) => (!a || compareRecords(b, a) > 0 ? b : a),
      undefined,
    );
    if (top && mustReassert(mine, top)) {
      // A record of our own (an earlier life, or the same version with other content) outranks
      // what we say now: announce above it, so every peer ends with ours.
      publish(mine!.record.macs, top.record.version);
    }
    if (fresh.length === 0) return null;
    apply();
    opts.onPeerRecords?.();
    return encodeRecords(fresh);
  }

  /** (Re)writes the masquerading rules when the local ranges (NO_MASQ_LOCAL) changed. */
  let masqApplied: string | undefined;
  async function refreshMasquerade(): Promise<void> {
    if (!opts.podCidr) return;
    const localRanges = opts.localRanges?.() ?? [];
    const key = localRanges.join(",");
    if (key === masqApplied) return;
    await applyMasquerade({ podCidr: opts.podCidr, localRanges });
    masqApplied = key;
    log.info("masquerading set", { podCidr: opts.podCidr, unmasqueradedLocal: localRanges });
  }

  function apply(): void {
    if (!mesh || !started) return;
    refreshMasquerade().catch((e) =>
      log.error("cannot update masquerading", { error: (e as Error).message })
    );
    const now = Date.now();
    const reachable = new Set(
      mesh.peers().filter((p) => p.reachable && p.name !== mesh!.self)
        .map((p) => p.name),
    );
    const known = new Set(mesh.peers().map((p) => p.name));
    // Asked for every peer with a record, not only those in the topology now: a key must stay
    // current for as long as its connection does (one dropped is never taken back).
    const sessions = new Map<PeerName, DataKey>();
    if (opts.encrypted) {
      for (const r of state.all()) {
        const k = r.peer === mesh.self ? undefined : mesh.dataKey?.(r.peer);
        if (k) sessions.set(r.peer, k);
      }
    }
    // Routes over the mesh's topology; a mesh without them (a test double) is taken as a full mesh.
    const via = (peer: PeerName): PeerName | null =>
      mesh!.nextHop ? mesh!.nextHop(peer) ?? null : peer;
    const relayed = (peer: PeerName): string | undefined => {
      const v = via(peer);
      return v !== null && v !== peer ? v : undefined;
    };
    const before = new Map(paths.map((p) => [p.peer, p.path]));
    const next: PeerPath[] = [];
    const fastPeers = new Set<string>();
    const probes: FdbEntry[] = [];
    for (const r of state.all()) {
      if (!reachable.has(r.peer)) {
        // The control connection is gone (the peer's daemon restarting, or a partition), but
        // its kernel may still carry traffic: the fast path stays as it was until the mesh
        // forgets the peer.
        if (known.has(r.peer) && (before.get(r.peer) === "fastdp" || frozen.has(r.peer))) {
          frozen.add(r.peer);
          fastPeers.add(r.peer);
          next.push({
            peer: r.peer,
            version: r.version,
            addr: r.addr,
            path: "fastdp",
            reason: "control connection lost: keeping the kernel's fast path meanwhile",
          });
        } else frozen.delete(r.peer);
        continue;
      }
      if (frozen.delete(r.peer)) {
        // Back: give its (possibly restarted) daemon a probe timeout to answer before judging.
        lastReply.set(r.peer, now);
      }
      const capable = fastdp && r.fastdp;
      if (capable) {
        probes.push({ mac: probeMac(r.peer), dst: r.addr });
        probeOwner.set(probeMac(r.peer), r.peer);
      }
      const fast = capable && fastPathUp(lastReply.get(r.peer), now, probeTimeout);
      if (fast) fastPeers.add(r.peer);
      const last = lastReply.get(r.peer);
      next.push({
        peer: r.peer,
        version: r.version,
        addr: r.addr,
        path: fast ? "fastdp" : "sleeve",
        reason: fast
          ? "fast path probes answered"
          : relayed(r.peer) !== undefined
          ? `no direct connection: relayed through ${relayed(r.peer)} on the userspace path`
          : !fastdp
          ? (!opts.encrypted
            ? "fast path disabled here (--no-fastdp)"
            : sessions.has(r.peer)
            ? "encrypted: the userspace path carries all traffic"
            : "encrypted, but no control connection to this peer yet (no key): nothing is sent")
          : !r.fastdp
          ? "peer does not offer the fast path"
          : last === undefined
          ? "waiting for a fast path probe reply"
          : `fast path probes unanswered for ${Math.round((now - last) / 1000)} s`,
      });
    }
    paths = next;
    if (fastdp) {
      const known = new Set(state.all().map((r) => r.addr));
      const graceOver = now - startedAt > (opts.adoptGraceMs ?? 30_000);
      const desired = [...desiredFdb(state.all(), mesh.self, fastPeers), ...probes];
      const diff = reconcileFdb(vxlan, desired, (e) => graceOver || known.has(e.dst));
      if (diff.add.length || diff.del.length) {
        log.info("fdb reconciled", { added: diff.add.length, removed: diff.del.length });
      }
      for (const p of next) {
        const was = before.get(p.peer);
        if (was && was !== p.path) {
          log.info("path changed", { peer: p.peer, path: p.path, reason: p.reason });
          // The bridge learned this peer's MACs behind the old path's port: forget them so
          // frames follow the new path at once.
          const oldPort = was === "fastdp" ? vxlan : tapName;
          for (const mac of state.get(p.peer)?.macs ?? []) {
            try {
              deleteFdb({ dev: oldPort, mac, master: true });
            } catch {
              // not learned there
            }
          }
        }
      }
    }
    const neighbours = mesh.broadcastChildren?.(mesh.self) ?? [...reachable];
    const refused = sleeve?.setPeers(
      state.all().filter((r) => reachable.has(r.peer)).map((r) => ({
        name: r.peer,
        addr: r.addr,
        port: r.sleevePort,
        sleeve: !fastPeers.has(r.peer),
        macs: r.macs,
        via: via(r.peer),
        children: mesh!.broadcastChildren?.(r.peer) ?? [],
      })),
      neighbours,
      sessions,
    ) ?? [];
    if (refused.length) log.error("the mesh offered a data key used before: refused", { refused });
  }

  function probeAll(): void {
    if (!fastdp || !sleeve || !mesh) return;
    const reachable = new Set(mesh.peers().filter((p) => p.reachable).map((p) => p.name));
    probeSeq++;
    for (const r of state.all()) {
      if (r.peer !== mesh.self && r.fastdp && reachable.has(r.peer)) {
        sleeve.sendProbe(r.peer, probeSeq);
      }
    }
    apply(); // notices pairs whose replies stopped
  }

  function onProbeReply(from: string): void {
    const peer = probeOwner.get(from);
    if (!peer) return;
    const wasUp = fastPathUp(lastReply.get(peer), Date.now(), probeTimeout);
    lastReply.set(peer, Date.now());
    if (!wasUp) apply();
  }

  /**
   * A peer's probe request proves its VXLAN reaches us: it is about to move our pair to the fast
   * path (on our reply) while we would wait for our own next probe, up to a second later. In that
   * window each end sends on a different path and frames are lost (a new pod's first ARP answered
   * into a VXLAN FDB with no entry for the peer: its first packet then waits 1 s for the ARP
   * retry). So a pair not up here probes back at once, and both ends move within a round trip.
   */
  function onProbeRequest(from: string): void {
    const peer = probeOwner.get(from);
    if (!peer || !sleeve) return;
    const now = Date.now();
    if (!shouldProbeBack(lastReply.get(peer), probedBack.get(peer), now, probeTimeout)) return;
    probedBack.set(peer, now);
    sleeve.sendProbe(peer, probeSeq);
  }

  function report(): DataplaneStatus {
    return {
      ready: started,
      underlay,
      mtu,
      fastdp,
      encrypted: opts.encrypted === true,
      localMacs: mine?.record.macs ?? [],
      peers: paths,
      sleeve: sleeve?.stats(),
      sleeveHealth: sleeve?.health(),
      sleeveRestarts: sleeve?.restarts(),
      sleeveOffloads: sleeve ? { gso: sleeve.socket.gso, gro: sleeve.socket.gro } : undefined,
    };
  }

  function pollLocal(): void {
    const macs = localMacs();
    if (!mine || macs.join() !== mine.record.macs.join()) publish(macs);
  }

  return {
    async start(m: MeshView): Promise<void> {
      mesh = m;
      startedAt = Date.now();
      underlay = pickUnderlay(listLinks(), listAddresses(), listRoutes(), opts.underlayAddr, [
        bridge,
        vxlan,
        tapName,
      ]);
      mtu = chooseMtu({
        underlayMtu: underlay.mtu,
        fastdp,
        encrypted: opts.encrypted === true,
        override: opts.mtu,
      });
      const changed = ensureBridge({ name: bridge, mtu: mtu.mtu, cidr: opts.bridgeCidr });
      if (fastdp) {
        changed.push(...ensureVxlan({
          name: vxlan,
          port: fastdpPort,
          vni: opts.vni ?? 1,
          bridge,
          mtu: mtu.mtu,
          local: underlay.addr,
        }));
        await applySplitHorizon(tapName, vxlan);
        // Peers found in the FDB (a restart) keep the fast path until probes say otherwise.
        const adopted = actualFdb(vxlan);
        for (const e of adopted) adoptedAddrs.add(e.dst);
        log.info("fast path adopted", { device: vxlan, fdbEntries: adopted.length });
      }
      await refreshMasquerade();
      sleeve = await Sleeve.start({
        tapName,
        bridge,
        port: sleevePort,
        underlayMtu: underlay.mtu,
        mtu: mtu.mtu,
        self: m.self,
        epoch,
        encrypted: opts.encrypted === true,
        keyGraceMs: opts.keyGraceMs,
        macTtlMs: opts.macTtlMs,
        workerUrl: opts.sleeveWorkerUrl,
        onProbeReply,
        onProbeRequest,
      });
      channel = m.channel(MAC_CHANNEL, {
        fullState: () => encodeRecords(state.signed()),
        onGossip: (from, data) => receive(m, from, data),
        onUnicast: () => {},
      });
      unsubscribe = m.onChange(() => apply());
      started = true;
      publish(localMacs());
      apply();
      timers.push(setInterval(pollLocal, opts.pollMs ?? 1000));
      timers.push(setInterval(apply, opts.reconcileMs ?? 5000));
      if (fastdp) timers.push(setInterval(probeAll, opts.probeMs ?? 1000));
      log.info("data plane ready", {
        bridge,
        mtu: mtu.mtu,
        mtuReason: mtu.reason,
        fastdp,
        encrypted: opts.encrypted === true,
        underlay: underlay.addr,
        changed,
      });
    },

    async stop(): Promise<void> {
      for (const t of timers.splice(0)) clearInterval(t);
      unsubscribe?.();
      started = false;
      await sleeve?.stop();
      sleeve = undefined;
      // The bridge, VXLAN device and FDB stay: pods keep talking on the fast path while the
      // daemon is down or restarting.
    },

    name: "dataplane",

    ready: () => (started ? sleeve?.health() ?? null : "data plane not set up yet"),

    routes(): ApiRoute[] {
      return [{
        method: "GET",
        path: "/status/dataplane",
        handle: () => jsonResponse(report()),
      }];
    },

    metrics(registry: Registry): void {
      registry.gaugeFn(
        "weavets_dataplane_peers",
        "Peers by the data path their traffic uses (fastdp: kernel VXLAN, sleeve: userspace).",
        () =>
          (["fastdp", "sleeve"] as const).map((path) => ({ labels: { path }, value: count(path) })),
      );
      registry.counterFn(
        "weavets_macs_records_refused_total",
        "Gossiped macs records dropped: invalid (not signed by their peer), unknown-author (its " +
          "key not known yet), jump (version too far ahead).",
        () =>
          Object.entries(refusedRecords).map(([reason, value]) => ({ labels: { reason }, value })),
      );
      sleeveMetrics(registry, () => sleeve);
    },

    status(): StatusSection {
      return {
        service: "dataplane",
        fields: [
          ["Bridge", bridge],
          ["MTU", mtu ? `${mtu.mtu} (${mtu.reason})` : "-"],
          ["Underlay", underlay ? `${underlay.addr} on ${underlay.dev}` : "-"],
          ["FastDP", fastdp ? `${vxlan} (UDP ${fastdpPort})` : "off"],
          [
            "Sleeve",
            `UDP ${sleevePort}${
              opts.encrypted ? `, encrypted (ChaCha20-Poly1305 on ${aeadBackend()})` : ""
            }`,
          ],
          ...sleeveStatusFields(sleeve),
          ["Paths", `${count("fastdp")} fastdp, ${count("sleeve")} sleeve`],
          ["Local MACs", `${mine?.record.macs.length ?? 0}`],
        ],
      };
    },

    report,

    dataPath: (peer: PeerName) => paths.find((p) => p.peer === peer)?.path,
    dataPathReason: (peer: PeerName) => paths.find((p) => p.peer === peer)?.reason,
    peerRecords: () => state.all(),
  };
}
