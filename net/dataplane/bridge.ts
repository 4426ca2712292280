/**
 * The node's `weave` bridge: created, or adopted as found and corrected (MTU, up, address), with
 * IPv4 forwarding on. Restart-safe: running it again on a right bridge changes nothing.
 */
import {
  addAddress,
  createBridge,
  findLink,
  listAddresses,
  readSysctl,
  setLinkUp,
  setMtu,
  writeSysctl,
} from "../linux/mod.ts";

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
