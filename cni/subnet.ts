/** Gateway arithmetic for allocations. Pure. */
import { formatIPv4, networkOf, parseCidr } from "../net/addr/mod.ts";

/** The gateway for an allocation: the IPAM's gateway with the allocation's prefix length. */
export function gatewayCidr(gateway: string, allocation: string): string {
  return `${gateway}/${parseCidr(allocation).prefix}`;
}

/** The conventional gateway of a subnet: its first address. */
export function firstAddress(cidr: string): string {
  const c = parseCidr(cidr);
  return `${formatIPv4(networkOf(c) + 1)}/${c.prefix}`;
}
