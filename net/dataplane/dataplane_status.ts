/**
 * What the data plane shows of itself: the JSON report (GET /status/dataplane), its lines in
 * `weavets status`, its metrics, and the one judgement of whether traffic is encrypted. Pure but
 * for reading the Sleeve it is handed; dataplane.ts passes its current state.
 */
import type { Registry } from "../api/metrics.ts";
import type { PeerName } from "../mesh/gossip_channel.ts";
import type { MtuChoice } from "./node/mtu.ts";
import type { Underlay } from "./node/underlay.ts";
import type { SleeveStats } from "./sleeve/messages.ts";
import { sleeveMetrics, sleeveStatusFields } from "./sleeve/report.ts";
import type { Sleeve } from "./sleeve/sleeve.ts";
import { type PathName, type PathReason, type Plan, renderReason } from "./plan.ts";
import type { Refusal } from "./fastpath/mac_channel.ts";
import type { DisputedMac } from "./fastpath/fdb.ts";

export interface PeerPath {
  peer: PeerName;
  /** The version of the peer's signed macs record this path was planned from. */
  version: number;
  addr: string;
  path: PathName;
  /** Why, in words (renderReason), and as a stable kind for tools. */
  reason: string;
  reasonKind: PathReason["kind"];
}

export interface DataplaneStatus {
  ready: boolean;
  underlay?: Underlay;
  mtu?: MtuChoice;
  fastdp: boolean;
  encrypted: boolean;
  /** A VXLAN device of ours is present: pod traffic may leave in plaintext (encryption: no). */
  plaintextPath: boolean;
  /** With a password: peers whose traffic takes the plaintext fast path (--trusted-subnets). */
  unencryptedPeers: PeerName[];
  localMacs: string[];
  peers: PeerPath[];
  sleeve?: SleeveStats;
  /** Why the userspace path's Workers are not all running (null: they are), and restarts. */
  sleeveHealth?: string | null;
  sleeveRestarts?: { tx: number; rx: number };
  /** Kernel offloads the userspace path got: UDP GSO/GRO on its socket. */
  sleeveOffloads?: { gso: boolean; gro: boolean };
}

export function peerPaths(plan: Plan | undefined): PeerPath[] {
  return (plan?.paths ?? []).map((p) => ({
    peer: p.peer,
    version: p.version,
    addr: p.addr,
    path: p.path,
    reason: renderReason(p.reason),
    reasonKind: p.reason.kind,
  }));
}

/**
 * How the userspace path's line states encryption: "encrypted" only when the mesh has a password
 * AND no plaintext path (a VXLAN device of ours) exists; with both, what is wrong and what to do.
 * Empty without a password (the mesh's own section says so).
 */
export function encryptionNote(
  encrypted: boolean,
  plaintextDevice: string | undefined,
  backend: string,
  unencrypted: readonly PeerName[] = [],
): string {
  if (!encrypted) return "";
  if (plaintextDevice) {
    return `, NOT encrypted: the plaintext VXLAN device ${plaintextDevice} is present (the ` +
      `daemon removes it at start: restart it, or run "ip link del ${plaintextDevice}")`;
  }
  const enc = `encrypted (ChaCha20-Poly1305 on ${backend})`;
  if (unencrypted.length === 0) return `, ${enc}`;
  return `, ${enc} except ${unencrypted.length} trusted peer(s) NOT encrypted on the fast ` +
    `path (--trusted-subnets): ${unencrypted.join(", ")}`;
}

/** With a password: the peers on the fast path, whose traffic is therefore not encrypted. */
export function unencryptedPeers(encrypted: boolean, plan: Plan | undefined): PeerName[] {
  if (!encrypted) return [];
  return (plan?.paths ?? []).filter((p) => p.path === "fastdp").map((p) => p.peer);
}

export interface StatusInput {
  bridge: string;
  mtu?: MtuChoice;
  underlay?: Underlay;
  fastdp: boolean;
  vxlan: string;
  fastdpPort: number;
  sleevePort: number;
  /** encryptionNote(). */
  encryption: string;
  sleeve: Sleeve | undefined;
  paths: PeerPath[];
  localMacs: number;
}

export function statusFields(s: StatusInput): Array<[string, string]> {
  const count = (path: PathName) => s.paths.filter((p) => p.path === path).length;
  return [
    ["Bridge", s.bridge],
    ["MTU", s.mtu ? `${s.mtu.mtu} (${s.mtu.reason})` : "-"],
    ["Underlay", s.underlay ? `${s.underlay.addr} on ${s.underlay.dev}` : "-"],
    ["FastDP", s.fastdp ? `${s.vxlan} (UDP ${s.fastdpPort})` : "off"],
    ["Sleeve", `UDP ${s.sleevePort}${s.encryption}`],
    ...sleeveStatusFields(s.sleeve),
    ["Paths", `${count("fastdp")} fastdp, ${count("sleeve")} sleeve`],
    ["Local MACs", `${s.localMacs}`],
  ];
}

export function dataplaneMetrics(
  registry: Registry,
  get: () => {
    paths: PeerPath[];
    refused: Record<Refusal, number>;
    disputed: readonly DisputedMac[];
    sleeve: Sleeve | undefined;
  },
): void {
  registry.gaugeFn(
    "weavets_dataplane_peers",
    "Peers by the data path their traffic uses (fastdp: kernel VXLAN, sleeve: userspace).",
    () =>
      (["fastdp", "sleeve"] as const).map((path) => ({
        labels: { path },
        value: get().paths.filter((p) => p.path === path).length,
      })),
  );
  registry.counterFn(
    "weavets_macs_records_refused_total",
    "Gossiped macs records dropped: invalid (not signed by their peer), unknown-author (its " +
      "key not known yet), jump (version too far ahead).",
    () => Object.entries(get().refused).map(([reason, value]) => ({ labels: { reason }, value })),
  );
  registry.gaugeFn(
    "weavets_macs_disputed",
    "MAC claims refused now (fastpath/fdb.ts macOwners): owner=kept, a peer claims a MAC its " +
      "owner still announces; owner=none, several claim one nobody held before (flooded).",
    () =>
      (["kept", "none"] as const).map((owner) => ({
        labels: { owner },
        value: get().disputed.filter((d) => (d.owner === null) === (owner === "none")).length,
      })),
  );
  sleeveMetrics(registry, () => get().sleeve);
}
