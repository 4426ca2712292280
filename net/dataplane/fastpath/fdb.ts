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
 * A MAC that a second peer claims while its owner still announces it (refused: see macOwners), or
 * that several claim with none holding it before (`owner` null: nobody gets it).
 */
export interface DisputedMac {
  mac: string;
  owner: string | null;
  claimant: string;
}

/**
 * Which peer each gossiped MAC belongs to. A MAC stays with its previous owner for as long as that
 * owner's record still lists it, whatever another peer claims: a record is signed by its author,
 * but a peer holding the password could still sign one of its own listing other nodes' pod MACs
 * at a higher version and take their traffic. A MAC with no owner still listing it (new, or a pod
 * that moved: the old node dropped it) goes to the one record that claims it. Several claiming it
 * with no history (a daemon that just started while a claim stands cannot tell the owner from the
 * claimant: any version order is the claimant's to choose) give it to nobody: its frames are
 * flooded, so they still reach the real owner, until all claimants but one drop it. The answer
 * does not depend on the records' order. This node's own MACs are claimants like any other (a
 * claim on them is disputed too).
 */
export function macOwners(
  records: readonly PeerRecord[],
  previous: ReadonlyMap<string, string> = new Map(),
): { owners: Map<string, PeerRecord>; disputed: DisputedMac[] } {
  const claims = new Map<string, PeerRecord[]>();
  for (const r of records) {
    for (const mac of r.macs) {
      const list = claims.get(mac);
      if (list) list.push(r);
      else claims.set(mac, [r]);
    }
  }
  const owners = new Map<string, PeerRecord>();
  const disputed: DisputedMac[] = [];
  for (const [mac, list] of claims) {
    const kept = list.find((r) => r.peer === previous.get(mac));
    if (kept || list.length === 1) owners.set(mac, kept ?? list[0]);
    if (list.length === 1) continue;
    for (const r of list) {
      if (r !== kept) disputed.push({ mac, owner: kept?.peer ?? null, claimant: r.peer });
    }
  }
  disputed.sort((
    x,
    y,
  ) => (x.mac < y.mac ? -1 : x.mac > y.mac ? 1 : x.claimant < y.claimant ? -1 : 1));
  return { owners, disputed };
}

/**
 * Every remote pod MAC → its owner's underlay address (macOwners), plus one all-zeros entry per
 * peer, which the kernel uses to copy broadcast, multicast and unknown-unicast frames to each
 * peer. Only `fastPeers` (reachable peers whose pair currently uses the fast path) get entries.
 * Pure and independent of the records' order.
 */
export function desiredFdb(
  records: readonly PeerRecord[],
  self: string,
  fastPeers: Set<string>,
  owners: ReadonlyMap<string, PeerRecord> = macOwners(records).owners,
): FdbEntry[] {
  const out: FdbEntry[] = [];
  for (const r of records) {
    if (r.peer === self || !fastPeers.has(r.peer)) continue;
    out.push({ mac: FLOOD_MAC, dst: r.addr });
  }
  for (const [mac, r] of owners) {
    if (r.peer !== self && fastPeers.has(r.peer)) out.push({ mac, dst: r.addr });
  }
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
