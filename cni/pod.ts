/**
 * The pod side: everything done inside the pod's network namespace. Each function enters the
 * namespace, does synchronous netlink work only, and leaves (net/linux's per-thread rule).
 */
import { cidrContains, parseCidr, parseIPv4 } from "../net/addr/mod.ts";
import { addAddress, type Address, listAddresses } from "../net/linux/addr.ts";
import { LinuxError } from "../net/linux/errors.ts";
import { findLink, getLink, type Link, setLinkUp } from "../net/linux/link.ts";
import { inNetns } from "../net/linux/netns.ts";
import { addRoute, listRoutes, type Route } from "../net/linux/route.ts";
import { sendGratuitousArp } from "../net/linux/packet.ts";
import { CniError, ErrorCode } from "./errors.ts";

export interface PodRoute {
  dst: string;
  gw?: string;
}

/**
 * Brings `ifname` up with `ips` and installs `routes` (a missing gw means the gateway). A gateway outside every pod subnet gets a /32 link route
 * first, as Weave Net's plugin does. Returns the pod interface.
 */
export function configurePod(opts: {
  netns: string;
  ifname: string;
  ips: string[];
  routes: PodRoute[];
  gateway: string;
}): Link {
  return inNetns(opts.netns, () => {
    const link = getLink(opts.ifname);
    setLinkUp(link.index);
    for (const ip of opts.ips) addAddress(link.index, ip);
    const subnets = opts.ips.map(parseCidr);
    const linkRouted = new Set<string>();
    for (const r of opts.routes) {
      const gw = r.gw ?? opts.gateway;
      if (!subnets.some((s) => cidrContains(s, parseIPv4(gw))) && !linkRouted.has(gw)) {
        addRoute({ dst: `${gw}/32`, dev: link.index, scope: "link" });
        linkRouted.add(gw);
      }
      try {
        addRoute({ dst: r.dst, gateway: gw, dev: link.index });
      } catch (e) {
        if (!(e instanceof LinuxError && e.code === "EEXIST")) throw e;
        throw new CniError(
          ErrorCode.InvalidConfig,
          `the pod already has a route to ${r.dst} (from another interface or plugin); list ` +
            'the routes this interface should carry in "routes" in the network config',
          e.message,
        );
      }
    }
    return link;
  });
}

/** How long ADD waits for carrier on both ends before announcing anyway. */
const CARRIER_WAIT_MS = 1000;
/** The longest pause between two looks at carrier: the announcement is at most this late. */
export const CARRIER_POLL_MAX_MS = 10;

/**
 * The pause before look `attempt + 1` at carrier: 1, 2, 4, 8 ms, then every 10 ms. Carrier
 * usually comes within a few ms; when it does not (a loaded node, 20 pods at once), a fixed 2 ms
 * poll cost each waiting pod two netlink requests and two namespace entries every 2 ms on the
 * daemon's one thread, slowing the ADDs still to be answered.
 */
export function carrierPollDelay(attempt: number): number {
  return Math.min(2 ** Math.max(0, attempt), CARRIER_POLL_MAX_MS);
}

/**
 * Announces the pod's addresses with a gratuitous ARP once both ends of the veth have carrier:
 * until the kernel's link watcher has seen it (asynchronously, a few ms), the pod end drops what
 * it sends and the bridge port (`hostName`, in this namespace) is not forwarding yet.
 */
export async function announcePod(
  netns: string,
  ifname: string,
  hostName: string,
  ips: string[],
): Promise<void> {
  const deadline = Date.now() + CARRIER_WAIT_MS;
  const ready = () =>
    getLink(hostName).operState === "UP" &&
    inNetns(netns, () => getLink(ifname).operState) === "UP";
  for (let attempt = 0; !ready() && Date.now() < deadline; attempt++) {
    await new Promise((r) => setTimeout(r, carrierPollDelay(attempt)));
  }
  inNetns(netns, () => {
    for (const ip of ips) sendGratuitousArp(ifname, ip.slice(0, ip.indexOf("/")));
  });
}

export interface PodState {
  link: Link;
  addresses: Address[];
  routes: Route[];
}

/** What is inside the namespace for `ifname`; undefined when the interface is missing. */
export function readPod(netns: string, ifname: string): PodState | undefined {
  return inNetns(netns, () => {
    const link = findLink(ifname);
    if (!link) return undefined;
    return { link, addresses: listAddresses(link.index), routes: listRoutes() };
  });
}
