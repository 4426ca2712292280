/** Interface names: what Linux accepts, and the stable host-side veth name. Pure. */

import { MAX_IFNAME_BYTES } from "../net/linux/names.ts";

export const HOST_VETH_PREFIX = "vethwepl";

const ALPHABET = "0123456789abcdefghijklmnopqrstuv";

/**
 * The host end of a pod's veth: `vethwepl` + 7 base-32 characters of a 64-bit FNV-1a hash of the
 * container id and interface name (35 bits: ~1 collision in 10^5 pairs of pods on a node).
 * The interface name is hashed too so that one container can sit on two weavets networks.
 */
export function hostVethName(containerId: string, ifname: string): string {
  let h = 0xcbf29ce484222325n;
  for (const b of new TextEncoder().encode(`${containerId}\0${ifname}`)) {
    h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  let s = "";
  for (let i = 0; i < MAX_IFNAME_BYTES - HOST_VETH_PREFIX.length; i++) {
    s += ALPHABET[Number(h & 31n)];
    h >>= 5n;
  }
  return HOST_VETH_PREFIX + s;
}
