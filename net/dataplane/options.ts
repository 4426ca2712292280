/** The data plane component's options and interface (dataplane.ts implements them). */
import type { ApiRoute } from "../api/route.ts";
import type { Registry } from "../api/metrics.ts";
import type { MeshView, PeerName } from "../mesh/gossip_channel.ts";
import type { StatusSection } from "../mesh/status_text.ts";
import type { DataplaneStatus } from "./dataplane_status.ts";
import type { SleeveOptions } from "./sleeve/sleeve.ts";

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
   * Weave's --trusted-subnets (canonical CIDRs, from net/daemon/config.ts): with a password, a
   * peer whose connection is mutually trusted (MeshView.trusted) and whose underlay address is
   * inside one takes the unencrypted fast path (plan.ts); everyone else stays encrypted.
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
