/** The node side of a pod's network: the bridge, its gateway address, the host end of the veth. */
import { BridgeError, ensureBridgeLink } from "../net/dataplane/node/bridge.ts";
import { addAddress, listAddresses } from "../net/linux/addr.ts";
import { LinuxError } from "../net/linux/errors.ts";
import { currentNetnsInode } from "../net/linux/netns.ts";
import {
  createVeth,
  deleteLink,
  findLink,
  type Link,
  setHairpin,
  setLinkUp,
} from "../net/linux/link.ts";
import { CniError, ErrorCode } from "./errors.ts";

export interface Bridge {
  index: number;
  mtu: number;
  mac: string;
  /** The bridge's IPv4 address (the pods' gateway), "10.32.0.1/12". */
  address: string;
}

/**
 * Bridges this process made right (MAC pinned, up, addressed) through ensureBridge: the network
 * namespace's inode and the name, to the bridge's index (a bridge deleted and made again gets a
 * new index, so it is not mistaken for the one ensured).
 */
const ensured = new Map<string, number>();
const ensuredKey = (name: string) => `${currentNetnsInode()}/${name}`;

/**
 * The bridge, when this process already ensured it and it is still up with an address: a
 * daemon's ADDs after its first need neither the node lock nor a MAC write (each netlink write
 * waits for the kernel's rtnl lock; under the node lock 20 concurrent ADDs took turns).
 * Undefined: call ensureBridge under the node lock.
 */
export function readyBridge(name: string): Bridge | undefined {
  const index = ensured.get(ensuredKey(name));
  if (index === undefined) return undefined;
  const link = findLink(name);
  if (!link || link.index !== index || link.kind !== "bridge" || !link.up) return undefined;
  const address = bridgeAddress(link.index);
  if (!address) return undefined;
  return { index: link.index, mtu: link.mtu, mac: link.mac, address };
}

/**
 * Makes sure the bridge exists, is up and has an IPv4 address. Call under the node lock: the
 * gateway address must be chosen once. Creation is also safe against a racing creator (EEXIST).
 * `gateway` is asked for only when the bridge has no address yet.
 */
export async function ensureBridge(
  name: string,
  mtu: number | undefined,
  gateway: () => Promise<string>,
): Promise<Bridge> {
  let link: Link;
  try {
    // The daemon's own set-up (MAC pinned), whichever of the two runs first.
    link = ensureBridgeLink(name, mtu).link;
  } catch (e) {
    if (!(e instanceof BridgeError)) throw e;
    const notBridge = findLink(name) !== undefined;
    throw new CniError(notBridge ? ErrorCode.InvalidConfig : ErrorCode.IOFailure, e.message);
  }
  if (!link.up) setLinkUp(link.index);
  let address = bridgeAddress(link.index);
  if (!address) {
    address = await gateway();
    try {
      addAddress(link.index, address);
    } catch (e) {
      if (!(e instanceof LinuxError && e.code === "EEXIST")) throw e;
    }
  }
  ensured.set(ensuredKey(name), link.index);
  return { index: link.index, mtu: link.mtu, mac: link.mac, address };
}

/** The first global IPv4 address of a link, or undefined. */
export function bridgeAddress(index: number): string | undefined {
  return listAddresses(index).find((a) => a.family === 4 && a.scope === 0)?.cidr;
}

/**
 * `hostName` exists already: an earlier ADD of this attachment was not followed by DEL, and the
 * pod it made may be live — its address is not this ADD's to release.
 */
export class AlreadyAttached extends CniError {
  constructor(hostName: string, details?: string) {
    super(
      ErrorCode.IOFailure,
      `host interface "${hostName}" already exists: this container was added before without a ` +
        "DEL; the runtime should send DEL first",
      details,
    );
  }
}

/** AlreadyAttached when `hostName` exists. */
export function requireNotAttached(hostName: string): void {
  if (findLink(hostName)) throw new AlreadyAttached(hostName);
}

/**
 * Creates the pair: `hostName` here on the bridge (hairpin per config, up), `ifname` directly
 * inside the pod's namespace (configurePod brings it up). An existing `hostName` is
 * AlreadyAttached. The host end is made up and a bridge port in the one creating request (atomic,
 * and fewer round trips: under concurrent ADDs each netlink request waits for the kernel's rtnl
 * lock).
 */
export function createPodVeth(opts: {
  hostName: string;
  ifname: string;
  netns: string;
  mtu: number;
  mac?: string;
  bridge: Bridge;
  hairpin: boolean;
}): Link {
  try {
    createVeth(opts.hostName, opts.ifname, {
      peerNetns: opts.netns,
      mtu: opts.mtu,
      master: opts.bridge.index,
      up: true,
      ...(opts.mac ? { peerMac: opts.mac } : {}),
    });
  } catch (e) {
    if (e instanceof LinuxError && e.code === "EEXIST") {
      if (findLink(opts.hostName)) throw new AlreadyAttached(opts.hostName, e.message);
      throw new CniError(
        ErrorCode.IOFailure,
        `interface "${opts.ifname}" already exists in ${opts.netns}; choose another CNI_IFNAME`,
        e.message,
      );
    }
    if (e instanceof LinuxError && e.code === "ENOENT") {
      throw new CniError(
        ErrorCode.UnknownContainer,
        `the pod's network namespace ${opts.netns} does not exist (CNI_NETNS)`,
        e.message,
      );
    }
    throw e;
  }
  const link = findLink(opts.hostName);
  if (!link) throw new CniError(ErrorCode.IOFailure, `"${opts.hostName}" vanished after creation`);
  // A new bridge port starts with hairpin off.
  if (opts.hairpin) setHairpin(link.index, true);
  return link;
}

/** Deletes a host interface; false when it was already gone. */
export function deleteHostLink(name: string): boolean {
  try {
    deleteLink(name);
    return true;
  } catch (e) {
    if (e instanceof LinuxError && e.code === "ENODEV") return false;
    throw e;
  }
}
