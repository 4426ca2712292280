/**
 * The pod-network MTU: the underlay device's MTU minus the encapsulation overhead of the path in
 * use. Pure. Overheads are counted against the inner IP packet (the inner Ethernet header rides
 * inside the encapsulation).
 */
import { SLEEVE_ENTRY_HEADER, SLEEVE_FRAGMENT_HEADER } from "../sleeve/format.ts";
import { AEAD_TAG } from "../sleeve/aead.ts";
import { WeavetsError } from "../../errors.ts";

const OUTER_IPV4_UDP = 20 + 8;
const INNER_ETH = 14;

/** Kernel VXLAN: outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_OVERHEAD = OUTER_IPV4_UDP + 8 + INNER_ETH;

/** The userspace path: outer IPv4 + UDP, fragment header, one frame entry, AEAD tag if any. */
export function sleeveOverhead(encrypted: boolean): number {
  return OUTER_IPV4_UDP + SLEEVE_FRAGMENT_HEADER + SLEEVE_ENTRY_HEADER + INNER_ETH +
    (encrypted ? AEAD_TAG : 0);
}

export const MIN_MTU = 576;
export const MAX_MTU = 65535;

export interface MtuChoice {
  /** MTU for the bridge, the VXLAN device, the TAP and pod interfaces. */
  mtu: number;
  /** How it was chosen, for logs and status. */
  reason: string;
}

/**
 * Picks the MTU. `override` (--mtu / WEAVE_MTU) wins when given; otherwise the underlay MTU minus
 * the largest overhead among the paths that may carry traffic, so a fallback from the fast path to
 * the userspace path never needs a smaller MTU than pods already use.
 */
export function chooseMtu(opts: {
  underlayMtu: number;
  fastdp: boolean;
  encrypted: boolean;
  override?: number;
}): MtuChoice {
  if (opts.override !== undefined) {
    if (!Number.isInteger(opts.override) || opts.override < MIN_MTU || opts.override > MAX_MTU) {
      throw new WeavetsError("config", `--mtu ${opts.override} is outside ${MIN_MTU}..${MAX_MTU}`);
    }
    return { mtu: opts.override, reason: "set by --mtu" };
  }
  // Encrypted peers always use the userspace path; otherwise the fast path is in use when enabled.
  const sleeve = sleeveOverhead(opts.encrypted);
  const overhead = opts.fastdp && !opts.encrypted ? VXLAN_OVERHEAD : sleeve;
  const path = opts.fastdp && !opts.encrypted ? "fast path (VXLAN)" : "userspace path";
  const mtu = opts.underlayMtu - overhead;
  if (mtu < MIN_MTU) {
    throw new WeavetsError(
      "config",
      `underlay MTU ${opts.underlayMtu} leaves ${mtu} after the ${path} overhead of ${overhead}; ` +
        `set --mtu or use an underlay with a larger MTU`,
    );
  }
  return { mtu, reason: `underlay ${opts.underlayMtu} - ${overhead} (${path})` };
}
