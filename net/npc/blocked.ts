/**
 * A blocked connection as the log shows it, pure: the packet NFLOG handed over (from its IP
 * header) and the rule's prefix, read back into addresses, ports, the pods at both ends and the
 * policies that selected the pod of the direction that blocked it.
 */
import { formatIPv4, ipv4FromBytes } from "../addr/mod.ts";
import type { ClusterModel } from "./cluster.ts";
import type { PolicyState } from "./compile.ts";
import { LOG_PREFIX } from "./ruleset.ts";

export type BlockedDirection = "ingress" | "egress" | "unbound";

export interface BlockedConnection {
  direction: BlockedDirection;
  src: string;
  dst: string;
  /** tcp, udp, sctp, icmp or the IP protocol number. */
  protocol: string;
  /** Destination port (TCP, UDP, SCTP). */
  port?: number;
  srcPod?: string;
  dstPod?: string;
  /** The policies selecting the blocked side (destination for ingress, source for egress). */
  policies: string[];
}

const PROTOCOLS: Record<number, string> = { 1: "icmp", 6: "tcp", 17: "udp", 132: "sctp" };

/** Undefined for a prefix not ours or a payload that is not an IPv4 packet. */
export function describeBlocked(
  prefix: string,
  payload: Uint8Array,
  model: ClusterModel,
  state: PolicyState | undefined,
): BlockedConnection | undefined {
  if (!prefix.startsWith(LOG_PREFIX)) return undefined;
  const direction = prefix.slice(LOG_PREFIX.length).trim() as BlockedDirection;
  if (!["ingress", "egress", "unbound"].includes(direction)) return undefined;
  if (payload.length < 20 || payload[0] >> 4 !== 4) return undefined;
  const ihl = (payload[0] & 0x0f) * 4;
  const proto = payload[9];
  const src = ipv4FromBytes(payload, 12);
  const dst = ipv4FromBytes(payload, 16);
  const hasPorts = proto === 6 || proto === 17 || proto === 132;
  const port = hasPorts && payload.length >= ihl + 4
    ? new DataView(payload.buffer, payload.byteOffset).getUint16(ihl + 2, false)
    : undefined;
  const side = direction === "egress" ? src : dst;
  const key = model.podKeyAt(side);
  const local = state?.local.find((p) => p.key === key);
  const rules = direction === "unbound" ? undefined : local?.[direction];
  return {
    direction,
    src: formatIPv4(src),
    dst: formatIPv4(dst),
    protocol: PROTOCOLS[proto] ?? String(proto),
    ...(port !== undefined ? { port } : {}),
    ...(model.podKeyAt(src) ? { srcPod: model.podKeyAt(src) } : {}),
    ...(model.podKeyAt(dst) ? { dstPod: model.podKeyAt(dst) } : {}),
    policies: rules?.policies ?? [],
  };
}
