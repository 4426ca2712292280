/**
 * A control connection as `weavets status connections` shows it, with the data path the data
 * plane chose for that peer. Pure.
 */
import type { ConnectionStatus } from "../mesh/status.ts";

/**
 * The kernel's VXLAN path ("fastdp") is never encrypted: with a password a peer is on it only by
 * mutual trust (--trusted-subnets, net/mesh/trust.ts), so its connection says "unencrypted" even
 * though the mesh has a password. Any other path keeps what the mesh says.
 */
export function withDataPath(
  c: ConnectionStatus,
  dataPath: string,
  pathReason: string | undefined,
): ConnectionStatus {
  return { ...c, dataPath, pathReason, encrypted: c.encrypted && dataPath !== "fastdp" };
}
