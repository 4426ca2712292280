/**
 * The mesh as the data plane's plan and its userspace path need it, read once per round (the
 * only place dataplane.ts asks the mesh about peers, routes and keys).
 */
import type { DataKey, MeshView, PeerName } from "../mesh/gossip_channel.ts";
import type { MeshSnapshot, Plan } from "./plan.ts";
import type { PeerRecord } from "./fastpath/mac_gossip.ts";
import type { SleevePeer } from "./sleeve/messages.ts";

/** The mesh as the plan and the Sleeve need it, read once per round. */
export interface Snapshot extends MeshSnapshot {
  sessions: Map<PeerName, DataKey>;
  /** Broadcast children per origin (self: every neighbour), for the userspace path. */
  children(origin: PeerName): PeerName[];
}

export function snapshot(m: MeshView, recordPeers: PeerName[], encrypted: boolean): Snapshot {
  const peers = m.peers();
  const reachable = new Set(
    peers.filter((p) => p.reachable && p.name !== m.self).map((p) => p.name),
  );
  // Asked for every peer with a record, not only those in the topology now: a key must stay
  // current for as long as its connection does (one dropped is never taken back).
  const sessions = new Map<PeerName, DataKey>();
  if (encrypted) {
    for (const p of recordPeers) {
      const k = p === m.self ? undefined : m.dataKey?.(p);
      if (k) sessions.set(p, k);
    }
  }
  let nextHop: Map<PeerName, PeerName> | undefined;
  // A mesh without routes (a test double) is taken as a full mesh: nextHop stays undefined.
  if (m.nextHop) {
    nextHop = new Map();
    for (const p of reachable) {
      const h = m.nextHop(p);
      if (h !== undefined) nextHop.set(p, h);
    }
  }
  return {
    self: m.self,
    known: new Set(peers.map((p) => p.name)),
    reachable,
    nextHop,
    keyed: new Set(sessions.keys()),
    // Only with a password does trust change anything (and only then is it asked).
    trusted: new Set(encrypted ? [...reachable].filter((p) => m.trusted?.(p) === true) : []),
    sessions,
    children: (origin) =>
      m.broadcastChildren?.(origin) ?? (origin === m.self ? [...reachable] : []),
  };
}

/**
 * The userspace path's peer table: every reachable peer with a record, on the userspace path
 * unless the plan puts it on the fast path, with only the MACs the plan says it owns (a claim on
 * another peer's MAC is not followed: fastpath/fdb.ts macOwners).
 */
export function sleevePeers(records: readonly PeerRecord[], p: Plan, snap: Snapshot): SleevePeer[] {
  return records.filter((r) => snap.reachable.has(r.peer)).map((r) => ({
    name: r.peer,
    addr: r.addr,
    port: r.sleevePort,
    sleeve: !p.fastPeers.has(r.peer),
    macs: r.macs.filter((m) => p.macOwners.get(m) === r.peer),
    via: snap.nextHop ? snap.nextHop.get(r.peer) ?? null : r.peer,
    children: snap.children(r.peer),
  }));
}
