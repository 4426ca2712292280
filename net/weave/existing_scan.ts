/**
 * Reads what net/weave/existing.ts plans over: the bridge's addresses, the pods' addresses at the
 * far ends of the bridge's veth ports (entered through the namespace ids the ports report), and
 * libcni's result cache. Read-only; a pod that goes away meanwhile is skipped.
 */
import { findLink, inNetns, listAddresses, listLinks, netnsPathsById } from "../linux/mod.ts";
import { type CachedAttachment, type FoundAddress, parseCacheEntry } from "./existing.ts";

export function bridgeCidrs(bridge: string): string[] {
  const link = findLink(bridge);
  if (!link) return [];
  return listAddresses(link.index).filter((a) => a.family === 4).map((a) => a.cidr);
}

export function scanBridge(bridge: string): FoundAddress[] {
  const link = findLink(bridge);
  if (!link) return [];
  const out: FoundAddress[] = [];
  let paths: Map<number, string> | undefined;
  for (const port of listLinks()) {
    if (port.master !== link.index || port.kind !== "veth" || port.peerIndex === undefined) {
      continue;
    }
    if (port.linkNetnsId === undefined) continue; // both ends here: not a pod
    paths ??= netnsPathsById();
    const path = paths.get(port.linkNetnsId);
    if (!path) continue;
    try {
      const peer = port.peerIndex;
      const found = inNetns(path, () => {
        const l = findLink(peer);
        if (!l) return [];
        return listAddresses(peer).filter((a) => a.family === 4 && a.scope === 0)
          .map((a) => ({ cidr: a.cidr, ifname: l.name }));
      });
      for (const f of found) out.push({ ...f, veth: port.name });
    } catch {
      // the pod went away while we looked
    }
  }
  return out;
}

export function readResultCache(dir = "/var/lib/cni/results"): CachedAttachment[] {
  const out: CachedAttachment[] = [];
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (!e.isFile) continue;
      try {
        const text = Deno.readTextFileSync(`${dir}/${e.name}`);
        if (text.length < 1 << 20) out.push(...parseCacheEntry(text));
      } catch {
        // unreadable: skipped
      }
    }
  } catch {
    // no cache on this node
  }
  return out;
}
