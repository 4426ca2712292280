import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeMessage } from "./codec.ts";
import { Gossip } from "./gossip.ts";
import type { GossipChannel } from "./gossip_channel.ts";
import { encodeUpdate } from "./topology.ts";
import { TopologyStore } from "./topology_store.ts";

const name = (i: number) => `02:00:00:00:01:${i.toString(16).padStart(2, "0")}`;

interface Net {
  stores: TopologyStore[];
  gossips: Gossip[];
  topo: GossipChannel[];
  queue: Array<{ from: number; to: number; msg: Uint8Array }>;
}

/** Peers on a fixed graph, messages held in a queue the test delivers in any order. */
function network(count: number, edges: Array<[number, number]>): Net {
  const adj = Array.from({ length: count }, () => new Set<number>());
  for (const [a, b] of edges) if (a !== b) adj[a].add(b), adj[b].add(a);
  const net: Net = { stores: [], gossips: [], topo: [], queue: [] };
  for (let i = 0; i < count; i++) {
    const s = new TopologyStore({
      name: name(i),
      nickname: `p${i}`,
      uid: "000000000000000" + (i % 10),
    });
    const g = new Gossip(name(i), {
      neighbours: () => [...adj[i]].map(name).sort(),
      send: (to, msg) => {
        net.queue.push({ from: i, to: parseInt(to.slice(-2), 16), msg });
        return true;
      },
    }, s);
    net.stores.push(s);
    net.gossips.push(g);
    net.topo.push(g.channel("topology", s.gossiper()));
  }
  for (let i = 0; i < count; i++) {
    const own = net.stores[i].setConnections([...adj[i]].map((j) => ({
      name: name(j),
      address: `10.0.0.${j}:6783`,
      outbound: i < j,
      established: true,
    })));
    net.topo[i].broadcast(encodeUpdate([own]));
  }
  return net;
}

function deliver(net: Net, pick: (n: number) => number, duplicate: (n: number) => boolean): void {
  while (net.queue.length > 0) {
    const [m] = net.queue.splice(pick(net.queue.length) % net.queue.length, 1);
    if (duplicate(net.queue.length)) net.queue.push(m);
    net.gossips[m.to].receive(name(m.from), decodeMessage(m.msg), m.msg.length);
  }
}

const snapshot = (s: TopologyStore) =>
  JSON.stringify([...s.entries()].sort((a, b) => (a.name < b.name ? -1 : 1)));

Deno.test("gossip: any delivery order with re-delivery, then anti-entropy, converges everywhere", () => {
  const graph = fc.integer({ min: 2, max: 7 }).chain((n) =>
    fc.tuple(
      fc.constant(n),
      fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 12 }),
      fc.array(fc.nat(1000), { minLength: 1, maxLength: 50 }),
    )
  );
  fc.assert(
    fc.property(graph, ([count, extra, choices]) => {
      // A chain keeps the graph connected; extra edges add cycles.
      const edges: Array<[number, number]> = [
        ...Array.from({ length: count - 1 }, (_, i) => [i, i + 1] as [number, number]),
        ...extra,
      ];
      const net = network(count, edges);
      let k = 0;
      const next = () => choices[k++ % choices.length];
      let duplicates = 50;
      deliver(net, next, () => next() % 7 === 0 && duplicates-- > 0);
      for (let round = 0; round < count; round++) {
        for (const g of net.gossips) g.antiEntropy(count);
        deliver(net, next, () => false);
      }
      const first = snapshot(net.stores[0]);
      for (const s of net.stores) {
        assert.equal(snapshot(s), first);
        assert.equal(s.size, count);
        for (let j = 0; j < count; j++) assert.ok(s.reachable(name(j)));
      }
    }),
    { numRuns: 60 },
  );
});

Deno.test("gossip: broadcast on a converged mesh sends one message per peer, no flooding", () => {
  const count = 8;
  const edges: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) for (let j = i + 1; j < count; j++) edges.push([i, j]);
  const net = network(count, edges);
  deliver(net, () => 0, () => false);
  for (const g of net.gossips) g.antiEntropy(count);
  deliver(net, () => 0, () => false);
  const seen = new Set<number>();
  net.gossips[0].channel("c", {
    fullState: () => new Uint8Array(),
    onGossip: () => null,
    onUnicast: () => {},
  }).broadcast(new Uint8Array([1]));
  for (let i = 1; i < count; i++) {
    net.gossips[i].channel("c", {
      fullState: () => new Uint8Array(),
      onGossip: (_from, d) => {
        if (seen.has(i)) return null;
        seen.add(i);
        return d;
      },
      onUnicast: () => {},
    });
  }
  net.queue = net.queue.filter((m) => decodeMessage(m.msg).tag !== 2); // drop the full states
  let sent = 0;
  while (net.queue.length > 0) {
    const m = net.queue.shift()!;
    sent++;
    net.gossips[m.to].receive(name(m.from), decodeMessage(m.msg), m.msg.length);
  }
  assert.equal(seen.size, count - 1);
  assert.equal(sent, count - 1, "a spanning tree: one message per receiver");
});
