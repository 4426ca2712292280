/**
 * TEST DOUBLE — a mesh of simulated peers (sim_peer.ts) on a fixed graph whose messages wait in a
 * queue the test delivers in any order, duplicated or tampered with (gossip_test,
 * gossip_envelope_test).
 */
import assert from "node:assert/strict";
import { decodeMessage, encodeMessage, type Message } from "../codec.ts";
import type { GossipChannel, Gossiper } from "../gossip_channel.ts";
import { TestKeyring } from "./keyring.ts";
import { type SimPeer, simPeer } from "./sim_peer.ts";
import { encodeUpdate, entryBytes } from "../topology.ts";
import type { TopologyStore } from "../topology_store.ts";

export const name = (i: number) => `02:00:00:00:01:${i.toString(16).padStart(2, "0")}`;
export const ring = new TestKeyring();

export interface Net {
  peers: SimPeer[];
  stores: TopologyStore[];
  queue: Array<{ from: number; to: number; msg: Uint8Array }>;
  deferred: Array<() => void>;
}

/** Peers on a fixed graph, messages held in a queue the test delivers in any order. */
export function network(count: number, edges: Array<[number, number]>): Net {
  const adj = Array.from({ length: count }, () => new Set<number>());
  for (const [a, b] of edges) if (a !== b) adj[a].add(b), adj[b].add(a);
  const net: Net = { peers: [], stores: [], queue: [], deferred: [] };
  for (let i = 0; i < count; i++) {
    const p = simPeer({
      id: { name: name(i), nickname: `p${i}`, uid: "000000000000000" + (i % 10) },
      signer: ring.key(name(i)),
      transport: {
        neighbours: () => [...adj[i]].map(name).sort(),
        send: (to, msg) => {
          net.queue.push({ from: i, to: parseInt(to.slice(-2), 16), msg });
          return true;
        },
      },
      defer: (fn) => net.deferred.push(fn),
    });
    net.peers.push(p);
    net.stores.push(p.store);
  }
  for (let i = 0; i < count; i++) {
    const own = net.stores[i].setConnections([...adj[i]].map((j) => ({
      name: name(j),
      address: `10.0.0.${j}:6783`,
      outbound: i < j,
      established: true,
    })));
    net.peers[i].channel.broadcast(encodeUpdate([own]));
  }
  return net;
}

export function deliver(
  net: Net,
  pick: (n: number) => number,
  duplicate: (n: number) => boolean,
): void {
  while (net.queue.length > 0 || net.deferred.length > 0) {
    if (net.queue.length === 0) {
      net.deferred.shift()!();
      continue;
    }
    const [m] = net.queue.splice(pick(net.queue.length) % net.queue.length, 1);
    if (duplicate(net.queue.length)) net.queue.push(m);
    net.peers[m.to].gossip.receive(name(m.from), decodeMessage(m.msg), m.msg.length);
  }
}

export const snapshot = (s: TopologyStore) =>
  [...s.entries()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(entryBytes);

/** A line 0 - 1 - 2, converged, with channel "c" on each peer recording what it is given. */
export function line(): {
  net: Net;
  got: Array<Array<[string, string, number[]]>>;
  c: GossipChannel[];
} {
  const net = network(3, [[0, 1], [1, 2]]);
  for (let round = 0; round < 3; round++) {
    for (const p of net.peers) p.gossip.antiEntropy(2);
    deliver(net, () => 0, () => false);
  }
  for (const s of net.stores) assert.equal([...s.routes()].length, 2);
  const got: Array<Array<[string, string, number[]]>> = [[], [], []];
  const c = net.peers.map((p, i) => {
    const g: Gossiper = {
      fullState: () => new Uint8Array(),
      onGossip: (from, d) => {
        if (d.length === 0) return null;
        got[i].push(["gossip", from, [...d]]);
        return d;
      },
      onUnicast: (from, d) => void got[i].push(["unicast", from, [...d]]),
    };
    return p.gossip.channel("c", g);
  });
  deliver(net, () => 0, () => false);
  return { net, got, c };
}

/** Delivers the queue, letting `tamper` rewrite (or drop: null) each message first. */
export function deliverVia(net: Net, tamper: (m: Message, from: number) => Message | null): void {
  while (net.queue.length > 0) {
    const q = net.queue.shift()!;
    const m = tamper(decodeMessage(q.msg), q.from);
    if (!m) continue;
    const bytes = encodeMessage(m);
    net.peers[q.to].gossip.receive(name(q.from), decodeMessage(bytes), bytes.length);
  }
}
