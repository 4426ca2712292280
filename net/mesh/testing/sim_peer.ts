/**
 * TEST DOUBLE: one peer of an in-memory mesh, built from the product's own parts exactly as the
 * daemon's Mesh wires them (local_topology.ts): topology store, key registry, the verifying
 * topology channel and the gossip layer with signed envelopes. Only the network is simulated
 * (a transport and a deferral function), so gossip tests and the simulator exercise the real code.
 */
import { Gossip, type GossipEvents, type GossipTransport } from "../gossip.ts";
import type { GossipChannel, PeerName } from "../gossip_channel.ts";
import { PeerKeys } from "../keys.ts";
import { TOPOLOGY_CHANNEL } from "../local_topology.ts";
import type { verifySignature } from "../signing.ts";
import type { Topology } from "../topology.ts";
import { TopologyGossip, type TopologyGossipOptions } from "../topology_gossip.ts";
import { type SelfIdentity, type Signer, TopologyStore } from "../topology_store.ts";

export interface SimPeerOptions {
  id: SelfIdentity;
  signer: Signer;
  transport: GossipTransport;
  /** Runs `fn` soon (the simulator: an event; tests: a queue they drain). */
  defer: (fn: () => void) => void;
  now?: () => number;
  /** Shared snapshots (the simulator's thousands of peers): a converged topology and its keys. */
  base?: Topology;
  baseKeys?: ReadonlyMap<PeerName, Uint8Array>;
  version?: number;
  events?: GossipEvents;
  onDrop?: TopologyGossipOptions["onDrop"];
  verify?: typeof verifySignature;
}

export interface SimPeer {
  store: TopologyStore;
  keys: PeerKeys;
  topology: TopologyGossip;
  gossip: Gossip;
  channel: GossipChannel;
}

export function simPeer(o: SimPeerOptions): SimPeer {
  const now = o.now ?? (() => 0);
  const store = new TopologyStore(o.id, o.signer, { base: o.base, version: o.version });
  const keys = new PeerKeys({
    self: o.id.name,
    selfKey: o.signer.publicKey,
    base: o.baseKeys,
    inUse: (n) => store.lookup(n) !== undefined,
  });
  const topology = new TopologyGossip({
    store,
    keys,
    now,
    defer: o.defer,
    // Simulated time: work is bounded by counts (what the simulator measures), not a wall clock.
    clock: () => 0,
    onDrop: o.onDrop,
    verify: o.verify,
  });
  const gossip = new Gossip(o.id.name, o.transport, store, {
    sign: (d, p) => o.signer.sign(d, p),
    verify: (a, d, p, s) => keys.verify(a, d, p, s),
  }, o.events);
  const channel = gossip.channel(TOPOLOGY_CHANNEL, topology, { signedEnvelopes: false });
  topology.attach(channel);
  keys.onRebind((n) => store.drop(n));
  return { store, keys, topology, gossip, channel };
}
