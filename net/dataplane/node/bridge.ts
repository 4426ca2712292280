/**
 * The node's `weave` bridge: created, or adopted as found and corrected (MTU, up, address), with
 * IPv4 forwarding on. Restart-safe: running it again on a right bridge changes nothing.
 */
import {
  addAddress,
  createBridge,
  findLink,
  inNetns,
  LinuxError,
  listAddresses,
  listLinks,
  netnsPathsById,
  readSysctl,
  setLinkUp,
  setMtu,
  writeSysctl,
} from "../../linux/mod.ts";

export interface BridgeSetup {
  name: string;
  mtu: number;
  /** The bridge's address ("10.32.0.1/12"): the pods' gateway and the host's way in. */
  cidr?: string;
}

export class BridgeError extends Error {
  override name = "BridgeError";
}

/** Returns what it changed (empty when the bridge was already right). */
export function ensureBridge(b: BridgeSetup): string[] {
  const changed: string[] = [];
  const link = findLink(b.name);
  if (!link) {
    createBridge(b.name, { mtu: b.mtu });
    changed.push(`created bridge ${b.name}`);
  } else if (link.kind !== "bridge") {
    throw new BridgeError(
      `"${b.name}" exists but is a ${link.kind ?? "non-bridge"} device; remove it or pick --bridge`,
    );
  } else if (link.mtu !== b.mtu) {
    changed.push(`mtu ${link.mtu} -> ${b.mtu}`);
  }
  // Always through a change request: that pins the MTU ("set by user"), so the kernel does not
  // recompute it as the smallest port MTU as ports come and go (the TAP port's is 64 KiB).
  setMtu(b.name, b.mtu);
  if (link) changed.push(...clampPorts(link.index, b.mtu));
  if (!link?.up) {
    setLinkUp(b.name);
    if (link) changed.push("set up");
  }
  if (b.cidr && !listAddresses(b.name).some((a) => a.cidr === b.cidr)) {
    addAddress(b.name, b.cidr);
    changed.push(`address ${b.cidr}`);
  }
  if (readSysctl("net/ipv4/ip_forward") !== "1") {
    writeSysctl("net/ipv4/ip_forward", "1");
    changed.push("ip_forward on");
  }
  return changed;
}

/**
 * Pods attached while the bridge's MTU was larger (the underlay's MTU or --mtu went down) would
 * send frames the VXLAN device drops without a word. Lowers both ends of each such pod veth to
 * the bridge's MTU, so the pod's own stack sizes its packets (and TCP its segments) to fit. The
 * pod's end is found through the namespace id its host end reports. Returns what it changed, and
 * what it could not (the pod must then be restarted).
 */
export function clampPorts(bridgeIndex: number, mtu: number): string[] {
  const changed: string[] = [];
  let paths: Map<number, string> | undefined;
  for (const port of listLinks()) {
    if (port.master !== bridgeIndex || port.kind !== "veth" || port.mtu <= mtu) continue;
    const peer = port.peerIndex;
    try {
      if (peer !== undefined && port.linkNetnsId === undefined) setMtu(peer, mtu);
      else if (peer !== undefined) {
        paths ??= netnsPathsById();
        const path = paths.get(port.linkNetnsId!);
        if (!path) {
          changed.push(
            `${port.name}: mtu ${port.mtu} above the bridge's ${mtu}, and its pod's namespace ` +
              "was not found: restart that pod",
          );
          continue;
        }
        inNetns(path, () => setMtu(peer, mtu));
      }
      setMtu(port.index, mtu);
      changed.push(`${port.name} and its pod's end: mtu ${port.mtu} -> ${mtu}`);
    } catch (e) {
      // The pod went away meanwhile: nothing is left to send from.
      if (!(e instanceof LinuxError && e.code === "ENODEV")) throw e;
    }
  }
  return changed;
}
