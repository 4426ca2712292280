/** The node side of a pod's network: the bridge, its gateway address, the host end of the veth. */
import { BridgeError, ensureBridgeLink } from "../net/dataplane/node/bridge.ts";
import { addAddress, listAddresses } from "../net/linux/addr.ts";
import { LinuxError } from "../net/linux/errors.ts";
import {
  createVeth,
  deleteLink,
  findLink,
  type Link,
  setHairpin,
  setLinkUp,
  setMaster,
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
 * inside the pod's namespace. An existing `hostName` is AlreadyAttached.
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
  setMaster(opts.hostName, opts.bridge.index);
  setHairpin(opts.hostName, opts.hairpin);
  setLinkUp(opts.hostName);
  const link = findLink(opts.hostName);
  if (!link) throw new CniError(ErrorCode.IOFailure, `"${opts.hostName}" vanished after creation`);
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
