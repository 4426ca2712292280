/**
 * Which underlay address and device this node uses to reach peers, and its MTU: the device of the
 * default route (or the one holding a given address). Pure choice over what net/linux lists.
 */
import type { Address, Link, Route } from "../linux/mod.ts";

export interface Underlay {
  addr: string;
  dev: string;
  mtu: number;
}

export class UnderlayError extends Error {
  override name = "UnderlayError";
}

/**
 * With `addr`: the link holding it. Without: the default route's device and its first global IPv4
 * address (a node without a default route must name its address).
 */
export function pickUnderlay(
  links: Link[],
  addresses: Address[],
  routes: Route[],
  addr?: string,
): Underlay {
  const byIndex = new Map(links.map((l) => [l.index, l]));
  if (addr) {
    const a = addresses.find((x) => x.family === 4 && x.cidr.split("/")[0] === addr);
    if (!a) throw new UnderlayError(`no interface has the underlay address ${addr}`);
    const l = byIndex.get(a.index)!;
    return { addr, dev: l.name, mtu: l.mtu };
  }
  const def = routes.find((r) => r.dst === "0.0.0.0/0" && r.dev !== undefined);
  if (!def) {
    throw new UnderlayError(
      "no default route to find the underlay interface; pass the node's address (--underlay-addr)",
    );
  }
  const l = byIndex.get(def.dev!);
  const a = addresses.find((x) => x.index === def.dev && x.family === 4 && x.scope === 0);
  if (!l || !a) throw new UnderlayError(`the default route's device has no IPv4 address`);
  return { addr: a.cidr.split("/")[0], dev: l.name, mtu: l.mtu };
}
