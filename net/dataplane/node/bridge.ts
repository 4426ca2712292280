/**
 * The node's `weave` bridge: created, or adopted as found and corrected (MTU, up, address), with
 * IPv4 forwarding on. Restart-safe: running it again on a right bridge changes nothing.
 * `ensureBridgeLink` is the one bridge set-up the daemon (here) and the CNI plugin (cni/host.ts)
 * share, so whichever runs first leaves the same bridge: MAC pinned.
 */
import { formatMac, localUnicastMac } from "../../addr/mod.ts";
import {
  addAddress,
  createBridge,
  findLink,
  inNetns,
  type Link,
  LinuxError,
  listAddresses,
  listLinks,
  netnsPathsById,
  readSysctl,
  setLinkUp,
  setMac,
  setMtu,
  writeSysctl,
} from "../../linux/mod.ts";
import { WeavetsError } from "../../errors.ts";

export interface BridgeSetup {
  name: string;
  mtu: number;
  /** The bridge's address ("10.32.0.1/12"): the pods' gateway and the host's way in. */
  cidr?: string;
}

export class BridgeError extends WeavetsError {
  override name = "BridgeError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("system", message, opts);
  }
}

/**
 * The bridge device, created or adopted, with its MAC pinned. A bridge whose MAC the kernel picks
 * takes its lowest port's MAC and changes it as ports (pods, the TAP, the VXLAN device) come and
 * go: every pod's ARP entry for the gateway goes stale, and frames the host sent under the old MAC
 * were learned elsewhere. So a new bridge gets a random locally administered MAC, and an adopted
 * one is set to the MAC it has now (setting it, even to the same value, marks it "set by user":
 * the kernel no longer recomputes it; the same value keeps pods' ARP entries right). A racing
 * creator (EEXIST) is fine. `created`: this call made it.
 */
export function ensureBridgeLink(
  name: string,
  mtu?: number,
): { link: Link; created: boolean } {
  let link = findLink(name);
  let created = false;
  if (!link) {
    try {
      const mac = formatMac(localUnicastMac(crypto.getRandomValues(new Uint8Array(6))));
      createBridge(name, mtu === undefined ? { mac } : { mtu, mac });
      created = true;
    } catch (e) {
      if (!(e instanceof LinuxError && e.code === "EEXIST")) throw e;
    }
    link = findLink(name);
    if (!link) throw new BridgeError(`bridge "${name}" vanished after creation`);
  }
  if (link.kind !== "bridge") {
    throw new BridgeError(
      `"${name}" exists but is a ${link.kind ?? "non-bridge"} device, not a bridge; remove it or ` +
        'pick another bridge name (--bridge, or "bridge" in the network config)',
    );
  }
  if (!created) setMac(link.index, link.mac);
  return { link, created };
}

/** Returns what it changed (empty when the bridge was already right). */
export function ensureBridge(b: BridgeSetup): string[] {
  const changed: string[] = [];
  const { link: found, created } = ensureBridgeLink(b.name, b.mtu);
  const link = created ? undefined : found;
  if (created) changed.push(`created bridge ${b.name}`);
  else if (found.mtu !== b.mtu) changed.push(`mtu ${found.mtu} -> ${b.mtu}`);
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
