/** Gossip convergence: any delivery order, no flooding, a forger injecting anywhere, trust on first use. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeMessage, encodeMessage, Tag } from "./codec.ts";
import { SigningKey } from "./signing.ts";
import { encodeUpdate, signEntry } from "./topology.ts";
import { deliver, name, network, ring, snapshot } from "./testing/gossip_net.ts";

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
        for (const p of net.peers) p.gossip.antiEntropy(count);
        deliver(net, next, () => false);
      }
      const first = snapshot(net.stores[0]);
      for (const s of net.stores) {
        assert.deepEqual(snapshot(s), first);
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
  for (const p of net.peers) p.gossip.antiEntropy(count);
  deliver(net, () => 0, () => false);
  const seen = new Set<number>();
  net.peers[0].gossip.channel("c", {
    fullState: () => new Uint8Array(),
    onGossip: () => null,
    onUnicast: () => {},
  }).broadcast(new Uint8Array([1]));
  for (let i = 1; i < count; i++) {
    net.peers[i].gossip.channel("c", {
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
    net.peers[m.to].gossip.receive(name(m.from), decodeMessage(m.msg), m.msg.length);
  }
  assert.equal(seen.size, count - 1);
  assert.equal(sent, count - 1, "a spanning tree: one message per receiver");
});

Deno.test("gossip: with a forger injecting into any peer at any time of a running mesh, honest peers converge on honest entries only", () => {
  const mallory = SigningKey.fromSeed(new Uint8Array(32).fill(0x4d));
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 6 }),
      fc.array(fc.nat(1000), { minLength: 1, maxLength: 40 }),
      fc.array(fc.tuple(fc.nat(5), fc.nat(3), fc.nat(5), fc.nat(2 ** 30)), { maxLength: 12 }),
      (count, choices, attacks) => {
        const edges = Array.from({ length: count - 1 }, (_, i) => [i, i + 1] as [number, number]);
        const net = network(count, edges);
        let k = 0;
        const next = () => choices[k++ % choices.length];
        const inject = ([to, kind, victim, version]: [number, number, number, number]) => {
          const v = name(victim % count);
          const held = net.stores[to % count].lookup(v) ?? net.stores[victim % count].own;
          let data: Uint8Array;
          if (kind === 0) {
            // The victim's entry at a high version, signed by the forger.
            data = encodeUpdate([signEntry(
              {
                ...held,
                connections: held.connections,
                version: held.version + 1 + (version % 1000),
              },
              mallory.publicKey,
              (d, p) => mallory.sign(d, p),
            )]);
          } else if (kind === 1) {
            // The victim's real entry, altered in transit (version bumped, signature kept).
            const b = encodeUpdate([held]).slice();
            new DataView(b.buffer).setUint32(3 + 18, held.version + 1 + (version % 1000));
            data = b;
          } else if (kind === 2) {
            // The victim's entry claiming the forger's key.
            data = encodeUpdate([{
              ...held,
              connections: held.connections,
              key: mallory.publicKey,
            }]);
          } else data = Uint8Array.of(1, 0, 1, ...new Uint8Array(version % 200));
          const m = encodeMessage({ tag: Tag.gossip, channel: "topology", data });
          net.peers[to % count].gossip.receive(name(9), decodeMessage(m), m.length);
        };
        // The mesh is running: every peer has seen every other's key (trust on first use; a
        // name nobody has seen yet can be claimed by whoever comes first, see the test below).
        deliver(net, () => 0, () => false);
        for (let round = 0; round < count; round++) {
          for (const p of net.peers) p.gossip.antiEntropy(count);
          deliver(net, () => 0, () => false);
        }
        // Every peer changes its entry while the forger injects.
        for (const p of net.peers) {
          p.channel.broadcast(encodeUpdate([p.store.setConnections(p.store.own.connections)]));
        }
        let a = 0;
        deliver(net, next, () => {
          if (a < attacks.length && next() % 3 === 0) inject(attacks[a++]);
          return false;
        });
        for (; a < attacks.length; a++) inject(attacks[a]);
        for (let round = 0; round < count + 1; round++) {
          for (const p of net.peers) p.gossip.antiEntropy(count);
          deliver(net, next, () => false);
        }
        const first = snapshot(net.stores[0]);
        for (const [i, s] of net.stores.entries()) {
          assert.deepEqual(snapshot(s), first);
          for (const e of s.entries()) {
            assert.deepEqual(e.key, ring.key(e.name).publicKey, `peer ${i} holds a forged entry`);
          }
          for (let j = 0; j < count; j++) assert.ok(s.reachable(name(j)));
        }
        // (What is counted is in topology_gossip_test: here an injection that is not news, e.g.
        // a forgery of our own uid, is ignored without even a verification.)
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("gossip: without an authority, the first key seen for a name nobody knew yet wins (trust on first use)", () => {
  const net = network(2, [[0, 1]]);
  const mallory = SigningKey.fromSeed(new Uint8Array(32).fill(0x4d));
  // Before peer 1 has heard of peer 0, a stranger claims peer 0's name with its own key.
  const claim = signEntry(
    { ...net.stores[0].own, version: 1 },
    mallory.publicKey,
    (d, p) => mallory.sign(d, p),
  );
  const m = encodeMessage({ tag: Tag.gossip, channel: "topology", data: encodeUpdate([claim]) });
  net.peers[1].gossip.receive(name(9), decodeMessage(m), m.length);
  deliver(net, () => 0, () => false);
  for (const p of net.peers) p.gossip.antiEntropy(2);
  deliver(net, () => 0, () => false);
  assert.deepEqual(net.peers[1].keys.get(name(0)), mallory.publicKey);
  assert.ok((net.peers[1].topology.drops.get("key-mismatch") ?? 0) > 0, "the real peer refused");
  // What fixes it: an authority (the Kubernetes API) vouches for the real key.
  net.peers[1].keys.bind(name(0), ring.key(name(0)).publicKey, "kube", 1);
  for (const p of net.peers) p.gossip.antiEntropy(2);
  deliver(net, () => 0, () => false);
  assert.deepEqual(net.stores[1].lookup(name(0))?.key, ring.key(name(0)).publicKey);
});
