/**
 * Which underlay address and device this node uses to reach peers, and its MTU: the device of the
 * default route (or the one holding a given address). Pure choice over what net/linux lists.
 */
import type { Address, Link, Route } from "../../linux/mod.ts";
import { WeavetsError } from "../../errors.ts";

export interface Underlay {
  addr: string;
  dev: string;
  mtu: number;
}

/**
 * With `addr`: the link holding it. Without: the default route's device and its first global IPv4
 * address; with no default route, the only interface holding a global IPv4 address (weavets' own
 * devices, listed in `own`, and pod veths aside). Otherwise the node must name its address.
 */
export function pickUnderlay(
  links: Link[],
  addresses: Address[],
  routes: Route[],
  addr?: string,
  own: string[] = [],
): Underlay {
  const byIndex = new Map(links.map((l) => [l.index, l]));
  if (addr) {
    const a = addresses.find((x) => x.family === 4 && x.cidr.split("/")[0] === addr);
    if (!a) throw new WeavetsError("config", `no interface has the underlay address ${addr}`);
    const l = byIndex.get(a.index)!;
    return { addr, dev: l.name, mtu: l.mtu };
  }
  const def = routes.find((r) => r.dst === "0.0.0.0/0" && r.dev !== undefined);
  if (!def) {
    const candidates = addresses.filter((x) => {
      const l = byIndex.get(x.index);
      return x.family === 4 && x.scope === 0 && l && l.name !== "lo" && !own.includes(l.name) &&
        !l.name.startsWith("vethwe");
    });
    if (candidates.length === 1) {
      const l = byIndex.get(candidates[0].index)!;
      return { addr: candidates[0].cidr.split("/")[0], dev: l.name, mtu: l.mtu };
    }
    throw new WeavetsError(
      "config",
      `no default route and ${candidates.length} interfaces with an IPv4 address: ` +
        "pass the node's underlay address with --host",
    );
  }
  const l = byIndex.get(def.dev!);
  const a = addresses.find((x) => x.index === def.dev && x.family === 4 && x.scope === 0);
  if (!l || !a) throw new WeavetsError("config", `the default route's device has no IPv4 address`);
  return { addr: a.cidr.split("/")[0], dev: l.name, mtu: l.mtu };
}
