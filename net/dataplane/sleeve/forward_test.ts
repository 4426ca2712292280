import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decide,
  neighbourSlots,
  newDecision,
  originBroadcastHops,
  type RouteEntry,
  type RouteHeader,
  type RouteTable,
} from "./forward.ts";

// Peers are numbers here (as MAC keys in the Workers); a neighbour slot is its peer number.
const table = (
  self: number,
  peers: Record<number, Partial<RouteEntry<number>>>,
): RouteTable<number> => ({
  self,
  peers: new Map(
    Object.entries(peers).map((
      [k, e],
    ) => [Number(k), { deliverBroadcast: true, via: null, children: [], ...e }]),
  ),
  nameOf: (h) => h,
});

const unicast = (sender: number, origin: number, dest: number, hops = 16): RouteHeader => ({
  broadcast: false,
  sender,
  origin,
  dest,
  hops,
});
const broadcast = (sender: number, origin: number, hops = 16): RouteHeader => ({
  broadcast: true,
  sender,
  origin,
  dest: 0,
  hops,
});

// A line 1 - 2 - 3, seen from 2.
const atB = table(2, { 1: { via: 1, children: [3] }, 3: { via: 3, children: [1] } });

Deno.test("sleeve forward: a unicast for this peer is written into the TAP, one for another goes on", () => {
  const d = newDecision<number>();
  assert.deepEqual(decide(unicast(1, 1, 2), atB, d), { deliver: true, forward: [], drop: null });
  assert.deepEqual(decide(unicast(1, 1, 3), atB, d), { deliver: false, forward: [3], drop: null });
  assert.deepEqual(decide(unicast(3, 3, 1), atB, d), { deliver: false, forward: [1], drop: null });
});

Deno.test("sleeve forward: a broadcast is written into the TAP and passed down the origin's tree", () => {
  const d = newDecision<number>();
  assert.deepEqual(decide(broadcast(1, 1), atB, d), { deliver: true, forward: [3], drop: null });
  // The fast path brings this origin's broadcasts: not written twice, still passed on.
  const fast = table(2, { 1: { via: 1, children: [3], deliverBroadcast: false } });
  assert.deepEqual(decide(broadcast(1, 1), fast, d), { deliver: false, forward: [3], drop: null });
  // A leaf of the tree only delivers.
  const atC = table(3, { 1: { via: 2 }, 2: { via: 2 } });
  assert.deepEqual(decide(broadcast(2, 1), atC, d), { deliver: true, forward: [], drop: null });
});

Deno.test("sleeve forward: nothing loops — own messages, routes back to the sender, hops run out", () => {
  const d = newDecision<number>();
  assert.equal(decide(unicast(1, 2, 3), atB, d).drop, "own");
  assert.equal(decide(broadcast(1, 2), atB, d).drop, "own");
  // The route to 1 leads back to the sender 1 (its view differs from ours): not bounced back.
  assert.deepEqual(decide(unicast(1, 3, 1), atB, d), { deliver: false, forward: [], drop: "loop" });
  // A broadcast never goes back to its sender or its origin.
  const star = table(2, { 1: { via: 1, children: [1, 3, 4] }, 3: { via: 3 }, 4: { via: 4 } });
  assert.deepEqual(decide(broadcast(3, 1), star, d).forward, [4]);
  // Hops: a message that arrives with one hop left is not passed on (a broadcast is still read).
  assert.deepEqual(decide(unicast(1, 1, 3, 1), atB, d), {
    deliver: false,
    forward: [],
    drop: "hops",
  });
  assert.deepEqual(decide(broadcast(1, 1, 1), atB, d), {
    deliver: true,
    forward: [],
    drop: "hops",
  });
  assert.deepEqual(decide(unicast(1, 1, 3, 2), atB, d).forward, [3]);
});

Deno.test("sleeve forward: unknown destinations and origins are dropped with their reason", () => {
  const d = newDecision<number>();
  assert.equal(decide(unicast(1, 1, 9), atB, d).drop, "no_route");
  assert.equal(decide(unicast(1, 1, 5), table(2, { 5: { via: null } }), d).drop, "no_route");
  assert.deepEqual(decide(broadcast(1, 9), atB, d), {
    deliver: false,
    forward: [],
    drop: "unknown_origin",
  });
});

Deno.test("sleeve forward: relaying along shortest-path next hops reaches the destination within the hop limit", () => {
  // Random connected graphs: next hops from BFS, as the mesh computes them.
  const graph = fc.integer({ min: 2, max: 10 }).chain((n) =>
    fc.tuple(
      fc.constant(n),
      fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 20 }),
    )
  );
  fc.assert(fc.property(graph, ([n, extra]) => {
    const adj = Array.from({ length: n }, () => new Set<number>());
    const link = (a: number, b: number) => {
      if (a === b) return;
      adj[a].add(b);
      adj[b].add(a);
    };
    for (let i = 1; i < n; i++) link(i - 1, i); // connected
    for (const [a, b] of extra) link(a, b);
    const nextHop = (from: number, to: number): number => {
      const parent = new Map<number, number>([[from, -1]]);
      const q = [from];
      while (q.length) {
        const p = q.shift()!;
        for (const x of [...adj[p]].sort((a, b) => a - b)) {
          if (!parent.has(x)) (parent.set(x, p), q.push(x));
        }
      }
      let x = to;
      while (parent.get(x) !== from) x = parent.get(x)!;
      return x;
    };
    // Names start at 1 (0 is "broadcast" in a header).
    const tables = Array.from({ length: n }, (_, s) => {
      const peers: Record<number, Partial<RouteEntry<number>>> = {};
      for (let p = 0; p < n; p++) if (p !== s) peers[p + 1] = { via: nextHop(s, p) + 1 };
      return table(s + 1, peers);
    });
    for (let o = 0; o < n; o++) {
      for (let t = 0; t < n; t++) {
        if (o === t) continue;
        let at = nextHop(o, t);
        let sender = o;
        let hops = 16;
        const d = newDecision<number>();
        for (;;) {
          decide(unicast(sender + 1, o + 1, t + 1, hops), tables[at], d);
          if (d.deliver) break;
          assert.equal(d.drop, null, `from ${o} to ${t} at ${at}`);
          assert.equal(d.forward.length, 1);
          [sender, at, hops] = [at, d.forward[0] - 1, hops - 1];
        }
        assert.equal(at, t);
      }
    }
  }));
});

Deno.test("sleeve forward: own broadcasts go only to neighbours with a userspace-path peer behind them", () => {
  const peers = [
    { name: "b", sleeve: false, via: "b" },
    { name: "c", sleeve: true, via: "b" }, // behind b
    { name: "d", sleeve: false, via: "d" },
    { name: "e", sleeve: true, via: null }, // no route
  ];
  assert.deepEqual(originBroadcastHops(["b", "d"], peers), ["b"]);
  assert.deepEqual(originBroadcastHops(["b", "d"], peers.map((p) => ({ ...p, sleeve: true }))), [
    "b",
    "d",
  ]);
  assert.deepEqual(originBroadcastHops([], peers), []);
});

Deno.test("sleeve forward: each neighbour gets one slot, made on first use; self, unknown and overflow get none", () => {
  const peers = [{ name: "a" }, { name: "b" }, { name: "c" }, { name: "self" }];
  const made: string[] = [];
  const n = neighbourSlots(peers, "self", (p, i) => (made.push(p.name), `${p.name}#${i}`), 2);
  assert.equal(n.slot("b"), "b#0");
  assert.equal(n.slot("b"), "b#0", "the same slot again");
  assert.equal(n.slot("a"), "a#1");
  assert.equal(n.slot("c"), null, "past the limit");
  assert.equal(n.slot("self"), null);
  assert.equal(n.slot("zz"), null, "no entry (no address)");
  assert.equal(n.slot(null), null);
  assert.deepEqual(made, ["b", "a"]);
  assert.deepEqual([...n.slots.keys()], ["b", "a"]);
});
