/** What this node announces of itself on the "macs" channel (moved out of dataplane.ts). */
import { type FdbEntry, findLink, listFdb } from "../../linux/mod.ts";

/**
 * The pods' MACs the bridge learned on its own ports: not permanent entries (ports' own
 * addresses), not the bridge's, and not those of the devices named in `skip` (the VXLAN device
 * and the TAP: those are other nodes' pods). `podMacs` is the rule, pure.
 */
export function bridgeLocalMacs(bridge: string, skip: readonly string[]): string[] {
  const br = findLink(bridge);
  if (!br) return [];
  const skipped = new Set([...skip.map((n) => findLink(n)?.index), br.index]);
  return podMacs(listFdb(), br.index, skipped);
}

export function podMacs(
  fdb: readonly Pick<FdbEntry, "bridge" | "dev" | "mac" | "permanent">[],
  bridgeIndex: number,
  skipped: ReadonlySet<number | undefined>,
): string[] {
  const found = new Set<string>();
  for (const e of fdb) {
    if (e.bridge === bridgeIndex && !e.permanent && !skipped.has(e.dev) && e.mac) found.add(e.mac);
  }
  return [...found].sort();
}

/** A random id for this run of the data plane (the Sleeve tells restarts apart by it). */
export function randomEpoch(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(8)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}
