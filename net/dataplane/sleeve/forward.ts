/**
 * Where a userspace-path message goes, hop by hop along the mesh's routes (as Weave Net's sleeve
 * relays). Pure, and allocation-free per message: the Workers hold a `RouteTable` built once per
 * topology or peer change and pass a reusable `Decision`.
 *
 * - A unicast message for this peer is written into the local TAP; one for another peer goes on
 *   to the neighbour on the route to it (never back to the peer it came from).
 * - A broadcast (broadcast, multicast or unknown destination) from `origin` is written into the
 *   TAP (unless the fast path brings that origin's broadcasts here) and passed on to this peer's
 *   children in origin's broadcast tree, except the sender and the origin.
 * - Every relay takes one off the hops left; a message that would leave with none is not passed
 *   on, and this peer's own messages coming back are dropped, so nothing loops.
 */

/** One peer in a Worker's routing table; `H` is how the Worker holds a neighbour (its slot). */
export interface RouteEntry<H> {
  /**
   * This origin's broadcasts are written into the local TAP (false while the pair uses the fast
   * path: the VXLAN device's flood brings them already).
   */
  deliverBroadcast: boolean;
  /** The neighbour on the route to this peer (the peer itself when directly connected); null: none. */
  via: H | null;
  /** Where this peer's broadcasts go on from here: this peer's children in its broadcast tree. */
  children: readonly H[];
}

export interface RouteTable<H> {
  /** This peer's name as a MAC key (frame.ts macKeyAt). */
  self: number;
  /** Every reachable peer with an address, by name as a MAC key. */
  peers: ReadonlyMap<number, RouteEntry<H>>;
  /** A neighbour's name as a MAC key. */
  nameOf(hop: H): number;
}

/** What the header of a received message says, names as MAC keys. */
export interface RouteHeader {
  broadcast: boolean;
  sender: number;
  origin: number;
  /** Ignored for a broadcast. */
  dest: number;
  /** Hops left as received. */
  hops: number;
}

export type DropReason =
  /** Our own message came back (a loop, or a forged origin). */
  | "own"
  /** A broadcast from a peer not in the table (not reachable, or no address gossiped yet). */
  | "unknown_origin"
  /** No route to the destination. */
  | "no_route"
  /** The route leads back to the sender: the sender's view of the topology differs from ours. */
  | "loop"
  /** It would leave with no hops left. */
  | "hops";

export interface Decision<H> {
  /** Write the frames into the local TAP. */
  deliver: boolean;
  /** Send a copy to each of these neighbours, with one hop less. */
  forward: H[];
  /** Set when the message (or its onward copy) is dropped. */
  drop: DropReason | null;
}

export function newDecision<H>(): Decision<H> {
  return { deliver: false, forward: [], drop: null };
}

/** Decides what happens to a received message; fills and returns `d`. */
export function decide<H>(h: RouteHeader, t: RouteTable<H>, d: Decision<H>): Decision<H> {
  d.deliver = false;
  d.forward.length = 0;
  d.drop = null;
  if (h.origin === t.self) {
    d.drop = "own";
    return d;
  }
  if (!h.broadcast) {
    if (h.dest === t.self) {
      d.deliver = true;
      return d;
    }
    const via = t.peers.get(h.dest)?.via ?? null;
    if (via === null) d.drop = "no_route";
    else if (t.nameOf(via) === h.sender) d.drop = "loop";
    else if (h.hops <= 1) d.drop = "hops";
    else d.forward.push(via);
    return d;
  }
  const e = t.peers.get(h.origin);
  if (!e) {
    d.drop = "unknown_origin";
    return d;
  }
  d.deliver = e.deliverBroadcast;
  for (const c of e.children) {
    const n = t.nameOf(c);
    if (n !== h.sender && n !== h.origin) d.forward.push(c);
  }
  if (d.forward.length > 0 && h.hops <= 1) {
    d.forward.length = 0;
    d.drop = "hops";
  }
  return d;
}

/** A remote peer as the origin side needs it to pick the neighbours for its own broadcasts. */
export interface OriginPeer {
  name: string;
  /** The pair uses the userspace path (else the fast path floods to it). */
  sleeve: boolean;
  via: string | null;
}

/**
 * The neighbours this peer sends its own broadcasts to: those of `children` (this peer's children
 * in its own broadcast tree, i.e. its neighbours) behind which some peer is reached on the
 * userspace path. A neighbour whose whole subtree gets the fast path's flood gets no copy. In
 * this peer's own tree, the subtree of child X is exactly the peers whose next hop is X.
 */
export function originBroadcastHops(children: readonly string[], peers: OriginPeer[]): string[] {
  const wanted = new Set<string>();
  for (const p of peers) if (p.sleeve && p.via !== null) wanted.add(p.via);
  return children.filter((c) => wanted.has(c));
}

/**
 * Gives each neighbour a route table names one slot (a Worker's sockaddr, key and counter), made
 * once on first use from its peer entry and numbered in that order. `slot` is null for this peer,
 * a name without an entry (no address gossiped yet) or past `max` slots.
 */
export function neighbourSlots<P extends { name: string }, H>(
  peers: readonly P[],
  self: string,
  make: (p: P, index: number) => H,
  max = 4096,
): { slot(name: string | null): H | null; slots: Map<string, H> } {
  const byName = new Map(peers.map((p) => [p.name, p]));
  const slots = new Map<string, H>();
  return {
    slots,
    slot(name) {
      if (name === null || name === self) return null;
      const known = slots.get(name);
      if (known !== undefined) return known;
      const p = byName.get(name);
      if (!p || slots.size >= max) return null;
      const h = make(p, slots.size);
      slots.set(name, h);
      return h;
    },
  };
}
