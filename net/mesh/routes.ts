/**
 * Routes over the topology. Pure: no I/O.
 *
 * An edge a–b counts only when both a's and b's entries report an established connection to each
 * other, so a half-dead or one-sided connection never carries traffic. Neighbours are visited in
 * name order, so every peer holding the same topology computes the same trees.
 */
import type { PeerName } from "./gossip_channel.ts";

/** What routes read of an entry. */
export interface RouteEntry {
  readonly name: PeerName;
  readonly connections: ReadonlyArray<{ readonly name: PeerName; readonly established: boolean }>;
}
export type Lookup = (name: PeerName) => RouteEntry | undefined;

// Entries are immutable, so what each one reports can be indexed once per entry object.
const establishedIndex = new WeakMap<RouteEntry, { set: Set<PeerName>; sorted: PeerName[] }>();

function established(e: RouteEntry): { set: Set<PeerName>; sorted: PeerName[] } {
  let idx = establishedIndex.get(e);
  if (!idx) {
    const set = new Set<PeerName>();
    for (const c of e.connections) if (c.established && c.name !== e.name) set.add(c.name);
    idx = { set, sorted: [...set].sort() };
    establishedIndex.set(e, idx);
  }
  return idx;
}

/**
 * Whether `e` reports an established connection to `name`: one lookup in an index built once per
 * entry, where scanning the list made every caller quadratic in a hostile topology (an entry may
 * list 1,024 connections).
 */
export function reportsEstablished(e: RouteEntry | undefined, name: PeerName): boolean {
  return e !== undefined && established(e).set.has(name);
}

/** Neighbours of `name` over symmetric established connections, sorted by name. */
export function symmetricNeighbours(name: PeerName, lookup: Lookup): PeerName[] {
  const e = lookup(name);
  if (!e) return [];
  return established(e).sorted.filter((n) => {
    const other = lookup(n);
    return other !== undefined && established(other).set.has(name);
  });
}

/**
 * BFS from `root`: each reached peer's parent (root's parent is null). With `stopAfter`, the
 * search ends once that peer's neighbours are visited (its children are then final).
 */
export function bfsTree(
  root: PeerName,
  lookup: Lookup,
  stopAfter?: PeerName,
): Map<PeerName, PeerName | null> {
  const parent = new Map<PeerName, PeerName | null>([[root, null]]);
  if (!lookup(root)) return parent;
  let frontier = [root];
  while (frontier.length > 0) {
    const next: PeerName[] = [];
    for (const p of frontier) {
      // symmetricNeighbours, inlined without its array: this loop is the route computation.
      const e = lookup(p);
      if (e) {
        for (const n of established(e).sorted) {
          if (parent.has(n)) continue;
          const other = lookup(n);
          if (other === undefined || !established(other).set.has(p)) continue;
          parent.set(n, p);
          next.push(n);
        }
      }
      if (p === stopAfter) return parent;
    }
    frontier = next;
  }
  return parent;
}

/** For every peer reachable from `self` (excluding self): the neighbour to send through. */
export function unicastRoutes(self: PeerName, lookup: Lookup): Map<PeerName, PeerName> {
  const parent = bfsTree(self, lookup);
  const hop = new Map<PeerName, PeerName>();
  // BFS order: a peer's parent is resolved before the peer itself.
  for (const [peer, p] of parent) {
    if (p === null) continue;
    hop.set(peer, p === self ? peer : hop.get(p)!);
  }
  return hop;
}

/**
 * Where `self` relays a broadcast that `source` started: its children in source's BFS tree.
 * Null when `self` is not in that tree (its view of the topology lags): the caller then floods.
 */
export function broadcastNextHops(
  source: PeerName,
  self: PeerName,
  lookup: Lookup,
): PeerName[] | null {
  // Peers are claimed by the first frontier member that reaches them, so self's children are
  // final once self's own neighbours are visited.
  const parent = bfsTree(source, lookup, self);
  if (!parent.has(self)) return null;
  const out: PeerName[] = [];
  for (const [peer, p] of parent) if (p === self) out.push(peer);
  return out.sort();
}

/**
 * Where gossip relays a broadcast: `tree` (this peer's children in the source's tree; null when
 * this peer is not in it: gossip then floods), plus every neighbour whose end of the connection
 * has not reached the topology here yet (`confirmed` false). No tree holds such a neighbour, so
 * news passing by in that window would otherwise wait for anti-entropy (a line a - b - c coming up
 * at once left c without a's entry for 30 s).
 */
export function relayHops(
  tree: PeerName[] | null,
  neighbours: readonly PeerName[],
  confirmed: (neighbour: PeerName) => boolean,
): PeerName[] | null {
  if (tree === null) return null;
  const unconfirmed = neighbours.filter((n) => !confirmed(n));
  return unconfirmed.length === 0 ? tree : [...new Set([...tree, ...unconfirmed])].sort();
}

/** The routes gossip follows, read from a topology store (the Mesh's). */
export interface RoutedTopology {
  unicastNextHop(dest: PeerName): PeerName | undefined;
  broadcastNextHops(source: PeerName): PeerName[] | null;
  lookup(name: PeerName): RouteEntry | undefined;
}

/**
 * Gossip's routes for peer `self`: unicast next hops as the topology says; broadcasts along the
 * source's tree plus the neighbours not confirmed in the topology yet (relayHops).
 */
export function gossipRoutes(
  store: () => RoutedTopology,
  self: PeerName,
  neighbours: () => readonly PeerName[],
) {
  return {
    unicastNextHop: (dest: PeerName) => store().unicastNextHop(dest),
    broadcastNextHops: (source: PeerName) =>
      relayHops(
        store().broadcastNextHops(source),
        neighbours(),
        (n) => reportsEstablished(store().lookup(n), self),
      ),
  };
}
