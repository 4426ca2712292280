/**
 * The contract between the mesh (which carries bytes between peers) and the components that
 * gossip through it (IPAM ownership, MAC/pod locations for the data plane). Named channels keep
 * them independent: the mesh never looks inside a channel's payload.
 *
 * The shape follows weaveworks/mesh: a channel's state must merge as a CRDT (idempotent,
 * commutative, associative), so any mix of broadcast, anti-entropy and re-delivery converges.
 */

/** A peer name: 6 bytes written like a MAC address, lower case ("aa:bb:cc:dd:ee:ff"). */
export type PeerName = string;

/** Implemented by a component that gossips (e.g. IPAM). All calls are synchronous and fast. */
export interface Gossiper {
  /** The complete local state: sent for periodic anti-entropy and to newly connected peers. */
  fullState(): Uint8Array;
  /**
   * Merge state received from `from` (a broadcast, or anti-entropy). Returns the part that was
   * new to this peer, which the mesh forwards further, or null when nothing changed.
   * Malformed input must throw; the mesh logs it and drops the message.
   */
  onGossip(from: PeerName, data: Uint8Array): Uint8Array | null;
  /** A message addressed to this peer alone (e.g. an IPAM space request or donation). */
  onUnicast(from: PeerName, data: Uint8Array): void;
  /**
   * Optional, for large states: a compact summary (e.g. a version per key). When present,
   * periodic anti-entropy sends this instead of the full state, and peers answer with only what
   * differs. New neighbours still get `fullState()`.
   */
  digest?(): Uint8Array;
  /**
   * Optional, with `digest`: given a peer's digest, the part of the local state that peer lacks
   * (sent back to it as gossip) or null, and whether the peer has something this one lacks (then
   * this peer answers with its own digest). Malformed input must throw.
   */
  onDigest?(from: PeerName, digest: Uint8Array): { update: Uint8Array | null; behind: boolean };
}

/** What the mesh gives a channel: ways to send. */
export interface GossipChannel {
  /** Spread an update to every reachable peer along the broadcast spanning tree. */
  broadcast(update: Uint8Array): void;
  /** Send to one peer, routed hop by hop; returns false when `to` is not reachable now. */
  unicast(to: PeerName, data: Uint8Array): boolean;
}

/** A peer as the topology knows it. */
export interface PeerInfo {
  name: PeerName;
  nickname: string;
  /** True when the local peer has a route to it over established connections. */
  reachable: boolean;
}

/**
 * The secret a control connection's key exchange yields for the data path (docs/PROTOCOL.md §2):
 * both ends of the connection hold the same one, and every connection a new one.
 */
export interface DataKey {
  /** 8 bytes that name this secret on the wire (not secret). */
  id: Uint8Array;
  /** 32 bytes. */
  secret: Uint8Array;
}

/**
 * The outcome of checking a record's signature against its author's bound key
 * (docs/PROTOCOL.md, "Authorship"):
 * - "valid": the author signed exactly these bytes;
 * - "invalid": a key is bound for the author and the signature does not match (a forgery or a
 *   corrupted record: count it, log it rate-limited, drop it);
 * - "unknown-author": no key is bound for the author yet (its topology entry has not arrived):
 *   drop the record without blame; anti-entropy brings it again once the key is known.
 */
export type SignatureCheck = "valid" | "invalid" | "unknown-author";

/** The read side of the mesh that components need. */
export interface MeshView {
  readonly self: PeerName;
  /** Every peer in the topology, the local one included. */
  peers(): PeerInfo[];
  /**
   * Called after every topology change, and whenever the data key towards a peer changes (a
   * connection established, replaced or closed); returns an unsubscribe function.
   */
  onChange(cb: () => void): () => void;
  /**
   * The data key of the established control connection to `peer`; undefined without a password
   * or without a direct connection. Optional so test doubles need not implement it; the daemon's
   * mesh always does.
   */
  dataKey?(peer: PeerName): DataKey | undefined;
  /**
   * Both ends of the established direct connection to `peer` trust each other (Weave's
   * --trusted-subnets, net/mesh/trust.ts); false without one. Optional as `dataKey`.
   */
  trusted?(peer: PeerName): boolean;
  /**
   * The neighbour to send through towards `peer` (the peer itself when directly connected), over
   * symmetric established connections; undefined when unreachable. The same routes the mesh's own
   * unicast gossip takes. Optional so test doubles need not implement it (a caller then assumes a
   * full mesh); the daemon's mesh always does.
   */
  nextHop?(peer: PeerName): PeerName | undefined;
  /**
   * The neighbours this peer relays a broadcast started by `origin` to: its children in origin's
   * broadcast tree (for `origin` = self, every neighbour). Empty when this peer is not in that
   * tree in its current view of the topology. Optional, as `nextHop`.
   */
  broadcastChildren?(origin: PeerName): PeerName[];
  /**
   * Signs a record this peer authors with its own key (Ed25519). `domain` names the record kind
   * (e.g. "macs/record"); net/mesh/signing.ts says exactly which bytes are covered.
   */
  sign(domain: string, payload: Uint8Array): Uint8Array;
  /** Checks that `author` signed `payload` under `domain` with the key bound to its name. */
  verify(
    author: PeerName,
    domain: string,
    payload: Uint8Array,
    signature: Uint8Array,
  ): SignatureCheck;
  /** This peer's signing public key (32 bytes), e.g. to publish it on its Kubernetes Node. */
  readonly publicKey: Uint8Array;
  /**
   * An authority the operator set up (the Kubernetes API: a Node's annotation) vouches that
   * `key` speaks for `name`: it replaces any other key bound to the name (net/mesh/keys.ts).
   */
  vouchKey(name: PeerName, key: Uint8Array): { ok: true } | { ok: false; reason: string };
  /** From now on only vouched keys are bound: the handshake and gossip can only confirm them. */
  trustOnlyVouchedKeys(): void;
  /**
   * The peer is gone for good (rmpeer, its Node deleted): its key may no longer speak for its
   * name, and a new key may be bound to it. Its topology entry goes with it.
   */
  forgetPeer(name: PeerName): void;
  /** Registers a named channel; the name must be unique and is part of the wire protocol. */
  channel(name: string, gossiper: Gossiper): GossipChannel;
  /**
   * Replaces the peer addresses to dial that were set this way before (e.g. Kubernetes Nodes);
   * command-line peers stay. Optional so test doubles need not implement it; the daemon's mesh
   * always does.
   */
  setTargets?(addresses: string[]): void;
}
