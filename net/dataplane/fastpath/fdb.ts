/**
 * The VXLAN forwarding database the fast path needs, computed from gossip, and the changes that
 * turn what the kernel has into it. Pure.
 */
import type { PeerRecord } from "./mac_gossip.ts";

export const FLOOD_MAC = "00:00:00:00:00:00";

/** One VXLAN FDB entry: frames to `mac` go to the underlay address `dst`. */
export interface FdbEntry {
  mac: string;
  dst: string;
}

/**
 * Every remote pod MAC → its peer's underlay address, plus one all-zeros entry per peer, which the
 * kernel uses to copy broadcast, multicast and unknown-unicast frames to each peer.
 * Only `fastPeers` (reachable peers whose pair currently uses the fast path) get entries; a MAC
 * gossiped by two peers (a pod that moved) goes to the record with the highest version.
 * Pure and independent of the records' order.
 */
export function desiredFdb(
  records: PeerRecord[],
  self: string,
  fastPeers: Set<string>,
): FdbEntry[] {
  const owner = new Map<string, PeerRecord>();
  const out: FdbEntry[] = [];
  for (const r of records) {
    if (r.peer === self || !fastPeers.has(r.peer)) continue;
    out.push({ mac: FLOOD_MAC, dst: r.addr });
    for (const mac of r.macs) {
      const o = owner.get(mac);
      // Ties between peers go to the greater name: the same answer whatever the order.
      if (!o || o.version < r.version || (o.version === r.version && o.peer < r.peer)) {
        owner.set(mac, r);
      }
    }
  }
  for (const [mac, r] of owner) out.push({ mac, dst: r.addr });
  return out.sort(compareEntries);
}

function compareEntries(a: FdbEntry, b: FdbEntry): number {
  return a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0;
}

export interface FdbDiff {
  add: FdbEntry[];
  del: FdbEntry[];
  keep: FdbEntry[];
}

/** What to add and delete so `actual` becomes `desired`; entries already right are kept. */
export function diffFdb(desired: FdbEntry[], actual: FdbEntry[]): FdbDiff {
  const key = (e: FdbEntry) => `${e.mac.toLowerCase()} ${e.dst}`;
  const want = new Map(desired.map((e) => [key(e), e]));
  const have = new Map(actual.map((e) => [key(e), e]));
  const diff: FdbDiff = { add: [], del: [], keep: [] };
  for (const [k, e] of want) (have.has(k) ? diff.keep : diff.add).push(e);
  for (const [k, e] of have) if (!want.has(k)) diff.del.push(e);
  return diff;
}
