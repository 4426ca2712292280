/**
 * The data plane's decisions, pure: from a snapshot of the mesh (who is reachable, through whom,
 * with which data key), the peers' signed macs records, the fast-path probe replies, the previous
 * plan and `now`, which path each peer's traffic takes and why, the VXLAN FDB the kernel should
 * have, the probes to send, and what moved. dataplane.ts takes the snapshot, calls planPaths and
 * reconciles the kernel and the userspace path with the result; nothing here touches either, so
 * every rule below is unit-tested without root, sockets or sleeps (plan_test.ts).
 */
import type { PeerName } from "../mesh/gossip_channel.ts";
import { desiredFdb, type DisputedMac, type FdbEntry, macOwners } from "./fastpath/fdb.ts";
import type { PeerRecord } from "./fastpath/mac_gossip.ts";
import { fastPathUp, probeMac } from "./fastpath/probe.ts";
import { plaintextAllowed, TrustedSubnets } from "../mesh/trust.ts";

export type PathName = "fastdp" | "sleeve";

/** Why a peer's traffic takes its path; renderReason turns it into the operator's words. */
export type PathReason =
  | { kind: "probes-answered" }
  /** With a password: a mutually trusted peer (--trusted-subnets) on the plaintext fast path. */
  | { kind: "trusted-unencrypted" }
  | { kind: "disconnected-kept" }
  | { kind: "relayed"; via: PeerName }
  | { kind: "fastdp-off" }
  | { kind: "encrypted" }
  | { kind: "encrypted-no-key" }
  | { kind: "peer-no-fastdp" }
  | { kind: "awaiting-probe" }
  | { kind: "probes-unanswered"; forMs: number };

export interface PlannedPath {
  peer: PeerName;
  /** The version of the peer's signed macs record this path was planned from. */
  version: number;
  addr: string;
  path: PathName;
  reason: PathReason;
}

/** What the mesh says now, read once per plan (dataplane.ts: snapshot()). */
export interface MeshSnapshot {
  self: PeerName;
  /** Peers in the topology (the local one included). */
  known: ReadonlySet<PeerName>;
  /** Peers other than self with a route over established connections. */
  reachable: ReadonlySet<PeerName>;
  /** The neighbour towards each reachable peer (itself when direct); absent: a full mesh. */
  nextHop?: ReadonlyMap<PeerName, PeerName>;
  /** Peers with a data key of an established control connection (encrypted meshes). */
  keyed: ReadonlySet<PeerName>;
  /** Peers whose direct connection is mutually trusted (--trusted-subnets, MeshView.trusted). */
  trusted?: ReadonlySet<PeerName>;
}

export interface PlanInput {
  mesh: MeshSnapshot;
  /** Every peer's macs record (self's included: it is skipped). */
  records: readonly PeerRecord[];
  /**
   * This node offers the fast path: not --no-fastdp, and either no password or trusted subnets
   * (then only mutually trusted peers whose address is inside them get it: trust.ts).
   */
  fastdp: boolean;
  encrypted: boolean;
  /** This end's --trusted-subnets (none: with a password, every peer is encrypted). */
  trustedSubnets?: TrustedSubnets;
  /** When each peer last answered a fast-path probe. */
  lastReply: ReadonlyMap<PeerName, number>;
  previous: Plan | undefined;
  now: number;
  probeTimeoutMs: number;
  /**
   * Until this time (a restart plus the adoption grace), FDB entries towards underlay addresses
   * with no record yet are kept: a restarted daemon must not tear down the fast path before
   * gossip has caught up.
   */
  adoptUntil: number;
}

export interface Plan {
  paths: PlannedPath[];
  /** Peers whose traffic takes the kernel's VXLAN path. */
  fastPeers: ReadonlySet<PeerName>;
  /** Peers whose fast path is kept while their control connection is down. */
  frozen: ReadonlySet<PeerName>;
  /** The VXLAN FDB to program: pod MACs and flood entries of fast peers, then probe entries. */
  fdb: FdbEntry[];
  /** Which peer a probe MAC stands for (replies are matched with it). */
  probeOwners: ReadonlyMap<string, PeerName>;
  /** Reachable peers that offer the fast path: probe them. */
  probe: PeerName[];
  /**
   * With a password: the peers this end may send unencrypted (mutually trusted, address inside
   * the trusted subnets; reachable, or frozen on the fast path). A VXLAN device exists only while
   * this is not empty (vxlanWanted).
   */
  plaintext: ReadonlySet<PeerName>;
  /**
   * During the adoption grace, only FDB entries towards these underlay addresses (peers with a
   * record) may be removed; the rest were adopted from the kernel and wait for gossip. Null: any.
   */
  deletable: ReadonlySet<string> | null;
  /** Peers back from a control-connection loss: their probe clock restarts at `now`. */
  rearm: PeerName[];
  /**
   * Peers whose path changed since the previous plan (logged; what the bridge learned on the old
   * port is forgotten on every plan, not only on a move: fastpath/learned.ts).
   */
  moved: Array<{ peer: PeerName; from: PathName; to: PathName }>;
  /** Each gossiped MAC's owner (fastpath/fdb.ts macOwners): the FDB and the Sleeve follow it. */
  macOwners: ReadonlyMap<string, PeerName>;
  /** Claims on a MAC its owner still announces: refused, reported. */
  disputedMacs: DisputedMac[];
}

/** The one place a path's reason becomes words (status, logs, `weavets status peers`). */
export function renderReason(r: PathReason): string {
  switch (r.kind) {
    case "probes-answered":
      return "fast path probes answered";
    case "trusted-unencrypted":
      return "NOT encrypted: trusted subnet on both ends (--trusted-subnets), kernel fast path " +
        "(probes answered)";
    case "disconnected-kept":
      return "control connection lost: keeping the kernel's fast path meanwhile";
    case "relayed":
      return `no direct connection: relayed through ${r.via} on the userspace path`;
    case "fastdp-off":
      return "fast path disabled here (--no-fastdp)";
    case "encrypted":
      return "encrypted: the userspace path carries all traffic";
    case "encrypted-no-key":
      return "encrypted, but no control connection to this peer yet (no key): nothing is sent";
    case "peer-no-fastdp":
      return "peer does not offer the fast path";
    case "awaiting-probe":
      return "waiting for a fast path probe reply";
    case "probes-unanswered":
      return `fast path probes unanswered for ${Math.round(r.forMs / 1000)} s`;
  }
}

/** Why a reachable peer that is not on the fast path uses the userspace path. */
function sleeveReason(
  i: PlanInput,
  r: PeerRecord,
  last: number | undefined,
): PathReason {
  const hop = i.mesh.nextHop ? i.mesh.nextHop.get(r.peer) : r.peer;
  if (hop !== undefined && hop !== r.peer) return { kind: "relayed", via: hop };
  if (i.encrypted && !mayPlaintext(i, r)) {
    return i.mesh.keyed.has(r.peer) ? { kind: "encrypted" } : { kind: "encrypted-no-key" };
  }
  if (!i.fastdp) return { kind: "fastdp-off" };
  if (!r.fastdp) return { kind: "peer-no-fastdp" };
  if (last === undefined) return { kind: "awaiting-probe" };
  return { kind: "probes-unanswered", forMs: i.now - last };
}

const NO_SUBNETS = new TrustedSubnets([]);

/** This end may send `r`'s traffic unencrypted (always without a password): trust.ts. */
function mayPlaintext(i: PlanInput, r: PeerRecord): boolean {
  return plaintextAllowed({
    encrypted: i.encrypted,
    mutual: i.mesh.trusted?.has(r.peer) ?? false,
    recordAddr: r.addr,
    subnets: i.trustedSubnets ?? NO_SUBNETS,
  });
}

/**
 * Whether this node should have its VXLAN device: without a password whenever the fast path is
 * on; with one only while some peer may be sent plaintext (issue 13's all-or-nothing: no
 * plaintext path exists unless a trusted peer uses it).
 */
export function vxlanWanted(i: { fastdp: boolean; encrypted: boolean; plan?: Plan }): boolean {
  if (!i.fastdp) return false;
  return !i.encrypted || (i.plan?.plaintext.size ?? 0) > 0;
}

export function planPaths(i: PlanInput): Plan {
  const before = new Map(i.previous?.paths.map((p) => [p.peer, p.path]));
  const wasFrozen = i.previous?.frozen ?? new Set<PeerName>();
  const paths: PlannedPath[] = [];
  const fastPeers = new Set<PeerName>();
  const frozen = new Set<PeerName>();
  const probes: FdbEntry[] = [];
  const probeOwners = new Map<string, PeerName>();
  const probe: PeerName[] = [];
  const rearm: PeerName[] = [];
  const plaintext = new Set<PeerName>();
  const records = i.records.filter((r) => r.peer !== i.mesh.self);
  for (const r of records) {
    const base = { peer: r.peer, version: r.version, addr: r.addr };
    if (!i.mesh.reachable.has(r.peer)) {
      // The control connection is gone (the peer's daemon restarting, or a partition), but its
      // kernel may still carry traffic: the fast path stays as it was until the mesh forgets
      // the peer.
      // With a password its trust cannot be re-confirmed meanwhile: kept only while its address
      // is still inside our trusted subnets (the connection's half is what we last agreed).
      const stillTrusted = !i.encrypted || (i.trustedSubnets?.contains(r.addr) ?? false);
      if (
        i.mesh.known.has(r.peer) && stillTrusted &&
        (before.get(r.peer) === "fastdp" || wasFrozen.has(r.peer))
      ) {
        if (i.encrypted) plaintext.add(r.peer);
        frozen.add(r.peer);
        fastPeers.add(r.peer);
        paths.push({ ...base, path: "fastdp", reason: { kind: "disconnected-kept" } });
      }
      continue;
    }
    let last = i.lastReply.get(r.peer);
    if (wasFrozen.has(r.peer)) {
      // Back: give its (possibly restarted) daemon a probe timeout to answer before judging.
      rearm.push(r.peer);
      last = i.now;
    }
    const capable = i.fastdp && r.fastdp && mayPlaintext(i, r);
    if (capable && i.encrypted) plaintext.add(r.peer);
    if (capable) {
      const mac = probeMac(r.peer);
      probes.push({ mac, dst: r.addr });
      probeOwners.set(mac, r.peer);
      probe.push(r.peer);
    }
    if (capable && fastPathUp(last, i.now, i.probeTimeoutMs)) {
      fastPeers.add(r.peer);
      const reason: PathReason = { kind: i.encrypted ? "trusted-unencrypted" : "probes-answered" };
      paths.push({ ...base, path: "fastdp", reason });
    } else paths.push({ ...base, path: "sleeve", reason: sleeveReason(i, r, last) });
  }
  // Until the start grace is over, records may arrive in any order (each waits for its author's
  // key): no owner is kept from then, so a claimant seen before the owner keeps nothing.
  const prevOwners = i.now < i.adoptUntil ? undefined : i.previous?.macOwners;
  const { owners, disputed } = macOwners(i.records, prevOwners);
  const moved: Plan["moved"] = [];
  for (const p of paths) {
    const was = before.get(p.peer);
    if (was && was !== p.path) moved.push({ peer: p.peer, from: was, to: p.path });
  }
  return {
    paths,
    fastPeers,
    frozen,
    fdb: i.fastdp ? [...desiredFdb(records, i.mesh.self, fastPeers, owners), ...probes] : [],
    probeOwners,
    probe,
    plaintext,
    deletable: i.now < i.adoptUntil ? new Set(records.map((r) => r.addr)) : null,
    rearm,
    moved,
    macOwners: new Map([...owners].map(([mac, r]) => [mac, r.peer])),
    disputedMacs: disputed,
  };
}
