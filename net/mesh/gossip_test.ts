import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeMessage, encodeMessage, type Message, Tag } from "./codec.ts";
import { Buffer } from "node:buffer";
import { BROADCAST_DOMAIN, envelopeBytes, Gossip, UNICAST_DOMAIN } from "./gossip.ts";
import type { GossipChannel, Gossiper } from "./gossip_channel.ts";
import { SIGNATURE_BYTES, SigningKey } from "./signing.ts";
import { TestKeyring } from "./testing/keyring.ts";
import { type SimPeer, simPeer } from "./testing/sim_peer.ts";
import { encodeUpdate, entryBytes, signEntry } from "./topology.ts";
import type { TopologyStore } from "./topology_store.ts";

const name = (i: number) => `02:00:00:00:01:${i.toString(16).padStart(2, "0")}`;
const ring = new TestKeyring();

interface Net {
  peers: SimPeer[];
  stores: TopologyStore[];
  queue: Array<{ from: number; to: number; msg: Uint8Array }>;
  deferred: Array<() => void>;
}

/** Peers on a fixed graph, messages held in a queue the test delivers in any order. */
function network(count: number, edges: Array<[number, number]>): Net {
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

function deliver(net: Net, pick: (n: number) => number, duplicate: (n: number) => boolean): void {
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

const snapshot = (s: TopologyStore) =>
  [...s.entries()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(entryBytes);

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

/** A line 0 - 1 - 2, converged, with channel "c" on each peer recording what it is given. */
function line(): { net: Net; got: Array<Array<[string, string, number[]]>>; c: GossipChannel[] } {
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
function deliverVia(net: Net, tamper: (m: Message, from: number) => Message | null): void {
  while (net.queue.length > 0) {
    const q = net.queue.shift()!;
    const m = tamper(decodeMessage(q.msg), q.from);
    if (!m) continue;
    const bytes = encodeMessage(m);
    net.peers[q.to].gossip.receive(name(q.from), decodeMessage(bytes), bytes.length);
  }
}

Deno.test("gossip: envelopes: a unicast arrives with its real source; a relay cannot rewrite it", () => {
  const { net, got, c } = line();
  assert.equal(c[0].unicast(name(2), Uint8Array.of(7)), true);
  deliverVia(net, (m) => m);
  assert.deepEqual(got[2], [["unicast", name(0), [7]]]);
  got[2].length = 0;
  // The relay (1) claims the message came from itself, changes the payload, or the destination.
  const tampers: Array<(m: Message & { tag: 4 }) => Message> = [
    (m) => ({ ...m, source: name(1) }),
    (m) => ({ ...m, data: Uint8Array.of(...m.data.subarray(0, SIGNATURE_BYTES), 8) }),
    (m) => ({ ...m, data: m.data.subarray(SIGNATURE_BYTES) }),
  ];
  for (const t of tampers) {
    c[0].unicast(name(2), Uint8Array.of(7));
    deliverVia(net, (m, from) => (from === 1 && m.tag === Tag.unicast ? t(m) : m));
  }
  assert.deepEqual(got[2], []);
  assert.equal(net.peers[2].gossip.stats.get("c")!.forged, 3);
  // Redirected to another destination: not for that one either.
  c[0].unicast(name(2), Uint8Array.of(7));
  deliverVia(net, (m) => (m.tag === Tag.unicast ? { ...m, dest: name(1) } : m));
  assert.deepEqual(got[1], []);
  assert.equal(net.peers[1].gossip.stats.get("c")!.forged, 1);
});

Deno.test("gossip: envelopes: a stranger's or a forged broadcast is dropped, counted, not relayed", () => {
  const { net, got } = line();
  const stranger = "02:00:00:00:09:99";
  const seal = (signer: string, source: string, payload: Uint8Array, domain = BROADCAST_DOMAIN) =>
    Uint8Array.of(
      ...ring.key(signer).sign(domain, envelopeBytes("c", source, null, payload)),
      ...payload,
    );
  const inject = (to: number, m: Message) => {
    const b = encodeMessage(m);
    net.peers[to].gossip.receive(name(9), decodeMessage(b), b.length);
  };
  const pay = Uint8Array.of(1, 2, 3);
  // Signed by a stranger in peer 2's name; by peer 2 but for unicast; by nobody bound.
  inject(0, {
    tag: Tag.broadcast,
    channel: "c",
    source: name(2),
    data: seal(stranger, name(2), pay),
  });
  inject(0, {
    tag: Tag.broadcast,
    channel: "c",
    source: name(2),
    data: seal(name(2), name(2), pay, UNICAST_DOMAIN),
  });
  inject(0, {
    tag: Tag.broadcast,
    channel: "c",
    source: stranger,
    data: seal(stranger, stranger, pay),
  });
  const uni = envelopeBytes("c", stranger, name(0), pay);
  inject(0, {
    tag: Tag.unicast,
    channel: "c",
    source: stranger,
    dest: name(0),
    hops: 0,
    data: Uint8Array.of(...ring.key(stranger).sign(UNICAST_DOMAIN, uni), ...pay),
  });
  // Too short to hold a signature at all.
  inject(0, { tag: Tag.unicast, channel: "c", source: name(2), dest: name(0), hops: 0, data: pay });
  assert.deepEqual(got[0], []);
  assert.equal(net.queue.length, 0, "nothing relayed");
  const st = net.peers[0].gossip.stats.get("c")!;
  assert.equal(st.forged, 3);
  assert.equal(st.unknownSource, 2);
  // The real thing is delivered, and relayed exactly as sealed.
  inject(1, {
    tag: Tag.broadcast,
    channel: "c",
    source: name(2),
    data: seal(name(2), name(2), pay),
  });
  assert.deepEqual(got[1], [["gossip", name(2), [1, 2, 3]]]);
  assert.equal(net.queue.length, 1);
  const relayed = decodeMessage(net.queue[0].msg);
  assert.deepEqual(relayed.tag === Tag.broadcast && [...relayed.data], [
    ...seal(name(2), name(2), pay),
  ]);
  deliverVia(net, (m) => m);
  assert.deepEqual(got[0], [["gossip", name(2), [1, 2, 3]]]);
});

// Golden vectors: envelopes as sent, for RFC 8032 test 1's key. The signatures were computed
// independently with python3's `cryptography`:
//   k.sign(b"weavets-sig\0gossip/broadcast\0" + bytes([4]) + b"ipam" + src + bytes([1, 2, 3]))
//   k.sign(b"weavets-sig\0gossip/unicast\0" + bytes([4]) + b"ipam" + src + dst + bytes([1, 2, 3]))
Deno.test("gossip: golden vectors for a signed broadcast and unicast envelope", () => {
  const seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
  const key = SigningKey.fromSeed(Uint8Array.from(Buffer.from(seed, "hex")));
  const sent: string[] = [];
  const src = "02:00:00:00:00:01", dst = "02:00:00:00:00:02";
  const g = new Gossip(
    src,
    {
      neighbours: () => [dst],
      send: (_to, m) => (sent.push(Buffer.from(m).toString("hex")), true),
    },
    { unicastNextHop: (d) => d, broadcastNextHops: () => [dst] },
    {
      sign: (d, p) => key.sign(d, p),
      verify: () => "valid",
    },
  );
  const c = g.channel("ipam", {
    fullState: () => new Uint8Array(),
    onGossip: () => null,
    onUnicast() {},
  });
  sent.length = 0;
  c.broadcast(Uint8Array.of(1, 2, 3));
  c.unicast(dst, Uint8Array.of(1, 2, 3));
  assert.deepEqual(sent, [
    "03" + "04" + "6970616d" + "020000000001" +
    "0b5874d877078b0f2c6050da1920bdea1440585a5756e15d186848306c09e601" +
    "d7dfcebd5c3dba984a9bbcd85ae997d771d2e5e6bd120674b0852d73943f6200" + "010203",
    "04" + "04" + "6970616d" + "020000000001" + "020000000002" + "00" +
    "f1c8d8e8cc38f13025163a32a44af101e60e67ef138347af9ae477e12cb3c109" +
    "8360e13b7e2fd658d96383feb1ad70dd286c9dada57e93a932af9620b3ab0b08" + "010203",
  ]);
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
