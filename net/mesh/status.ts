/**
 * The mesh's status as data (weaveworks/mesh's status.go): what `/status`, `/status/peers`,
 * `/status/connections` and `/report` serve and status_text.ts renders. Pure: the router passes
 * a snapshot of its state.
 */
import type { TargetState, TargetStatus } from "./connection_maker.ts";
import type { PeerName } from "./gossip_channel.ts";
import { reportsEstablished } from "./routes.ts";

export type { TargetState };

/**
 * How control connections are authenticated: with the operator's password (which also encrypts
 * the data path), with the cluster secret kept in a Kubernetes Secret (control plane only), or
 * not at all.
 */
export type ControlAuth = "password" | "cluster-secret" | "none";

export interface ConnectionStatus {
  direction: "outbound" | "inbound";
  address: string;
  state: TargetState | "pending";
  /** The data path to this peer is encrypted (a password is set). */
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
  /** Data-path encryption (a password is set). */
  encryption: boolean;
  controlAuth: ControlAuth;
  peerDiscovery: boolean;
  connLimit: number;
  listen: string;
  targets: string[];
  connections: ConnectionStatus[];
  peers: PeerStatus[];
  /** Unicast routes: destination → next hop. */
  routes: Record<PeerName, PeerName>;
}

/** A topology entry as status reads it. */
export interface SnapshotEntry {
  name: PeerName;
  nickname: string;
  uid: string;
  version: number;
  connections: ReadonlyArray<
    { name: PeerName; address: string; outbound: boolean; established: boolean }
  >;
}

/** The router's state that status shows. */
export interface StatusSnapshot {
  self: { name: PeerName; nickname: string; uid: string };
  protocol: string;
  encryption: boolean;
  controlAuth: ControlAuth;
  /** False with --no-discovery. */
  peerDiscovery?: boolean;
  connLimit: number;
  listen: string;
  established: ReadonlyArray<{
    outbound: boolean;
    address: string;
    name: PeerName;
    nickname: string;
  }>;
  targets: readonly TargetStatus[];
  entries: Iterable<SnapshotEntry>;
  reachable(name: PeerName): boolean;
  routes: ReadonlyMap<PeerName, PeerName>;
}

/**
 * What `GET /status` shows of the router (status_text.ts `routerSection`): counts only. Projected
 * without the peer list, the routes or reachability, so a /status request neither allocates a
 * record per connection of the topology nor recomputes the routes the topology gossip has just
 * invalidated (issue 12: while a maximal topology message was merged in slices, each /status
 * paid both, and at machine load 18-35 took 1-2.8 s).
 */
export interface MeshSummary {
  name: PeerName;
  nickname: string;
  protocol: string;
  encryption: boolean;
  controlAuth: ControlAuth;
  peerDiscovery: boolean;
  connLimit: number;
  /** Configured targets (not discovered ones). */
  targets: number;
  /** Connection states: established ones, then outbound targets not established. */
  connectionStates: Array<ConnectionStatus["state"]>;
  peers: number;
  /** Connection records, over all peers, that both ends report established. */
  establishedConnections: number;
}

/** The snapshot a summary needs: no routes, no reachability. */
export type SummarySnapshot = Omit<StatusSnapshot, "reachable" | "routes">;

export function meshSummary(s: SummarySnapshot): MeshSummary {
  const entries = new Map<PeerName, SnapshotEntry>();
  for (const e of s.entries) entries.set(e.name, e);
  let established = 0;
  for (const e of entries.values()) {
    for (const c of e.connections) {
      if (c.established && reportsEstablished(entries.get(c.name), e.name)) established++;
    }
  }
  const connectionStates: MeshSummary["connectionStates"] = s.established.map(() => "established");
  for (const t of s.targets) if (t.state !== "established") connectionStates.push(t.state);
  return {
    name: s.self.name,
    nickname: s.self.nickname,
    protocol: s.protocol,
    encryption: s.encryption,
    controlAuth: s.controlAuth,
    peerDiscovery: s.peerDiscovery ?? true,
    connLimit: s.connLimit,
    targets: s.targets.filter((t) => t.origin !== "discovered").length,
    connectionStates,
    peers: entries.size,
    establishedConnections: established,
  };
}

/** The same counts from a full status (e.g. a `/report` fetched by the CLI). */
export function summarize(s: MeshStatus): MeshSummary {
  return {
    name: s.name,
    nickname: s.nickname,
    protocol: s.protocol,
    encryption: s.encryption,
    controlAuth: s.controlAuth,
    peerDiscovery: s.peerDiscovery,
    connLimit: s.connLimit,
    targets: s.targets.length,
    connectionStates: s.connections.map((c) => c.state),
    peers: s.peers.length,
    establishedConnections: s.peers.reduce(
      (n, p) => n + p.connections.filter((c) => c.established).length,
      0,
    ),
  };
}

export function meshStatus(s: StatusSnapshot): MeshStatus {
  const entries = new Map([...s.entries].map((e) => [e.name, e]));
  const nick = (n: PeerName) => entries.get(n)?.nickname ?? "";
  const connections: ConnectionStatus[] = s.established.map((c) => ({
    direction: c.outbound ? "outbound" : "inbound",
    address: c.address,
    state: "established",
    encrypted: s.encryption,
    name: c.name,
    nickname: c.nickname,
  }));
  for (const t of s.targets) {
    if (t.state === "established") continue;
    connections.push({
      direction: "outbound",
      address: t.address,
      state: t.state,
      encrypted: s.encryption,
      name: t.peer,
      nickname: t.peer ? nick(t.peer) : undefined,
      reason: t.reason,
      retryAt: t.retryAt !== undefined ? new Date(t.retryAt).toISOString() : undefined,
    });
  }
  const self = s.self.name;
  const peers: PeerStatus[] = [...entries.values()].map((e) => ({
    name: e.name,
    nickname: e.nickname,
    uid: e.uid,
    version: e.version,
    reachable: s.reachable(e.name),
    connections: e.connections.map((c) => ({
      name: c.name,
      nickname: nick(c.name),
      address: c.address,
      outbound: c.outbound,
      // Indexed per entry (routes.ts): a scan of the other end's list made this quadratic in a
      // hostile topology (/status took a second with one 1,024-connection entry).
      established: c.established && reportsEstablished(entries.get(c.name), e.name),
    })),
  })).sort((a, b) => (a.name === self ? -1 : b.name === self ? 1 : a.name < b.name ? -1 : 1));
  return {
    name: self,
    nickname: s.self.nickname,
    uid: s.self.uid,
    protocol: s.protocol,
    encryption: s.encryption,
    controlAuth: s.controlAuth,
    peerDiscovery: s.peerDiscovery ?? true,
    connLimit: s.connLimit,
    listen: s.listen,
    targets: s.targets.filter((t) => t.origin !== "discovered").map((t) => t.address),
    connections,
    peers,
    routes: Object.fromEntries(s.routes),
  };
}
