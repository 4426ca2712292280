import assert from "node:assert/strict";
import fc from "fast-check";
import {
  bfsTree,
  broadcastNextHops,
  relayHops,
  symmetricNeighbours,
  unicastRoutes,
} from "./routes.ts";
import type { RouteEntry } from "./routes.ts";

const n = (i: number) => `02:00:00:00:00:${i.toString(16).padStart(2, "0")}`;

/** A topology from an edge list; `oneSided` edges are reported by their first end only. */
function topo(count: number, edges: [number, number][], oneSided: [number, number][] = []) {
  const conns = new Map<
    string,
    Array<{ name: string; address: string; outbound: boolean; established: boolean }>
  >();
  for (let i = 0; i < count; i++) conns.set(n(i), []);
  const add = (a: number, b: number, established = true) =>
    conns.get(n(a))!.push({ name: n(b), address: "x:1", outbound: a < b, established });
  for (const [a, b] of edges) {
    add(a, b);
    add(b, a);
  }
  for (const [a, b] of oneSided) add(a, b);
  const m = new Map<string, RouteEntry>();
  for (const [name, connections] of conns) m.set(name, { name, connections });
  return (x: string) => m.get(x);
}

Deno.test("routes: only connections both ends report as established count", () => {
  const lookup = topo(3, [[0, 1]], [[1, 2], [2, 0]]);
  assert.deepEqual(symmetricNeighbours(n(1), lookup), [n(0)]);
  assert.deepEqual([...unicastRoutes(n(0), lookup)], [[n(1), n(1)]]);
});

Deno.test("routes: unicast next hops follow shortest paths", () => {
  // 0 - 1 - 2 - 3, plus a shortcut 0 - 3
  const lookup = topo(4, [[0, 1], [1, 2], [2, 3], [0, 3]]);
  const r = unicastRoutes(n(0), lookup);
  assert.equal(r.get(n(1)), n(1));
  assert.equal(r.get(n(3)), n(3));
  assert.equal(r.get(n(2)), n(1), "ties broken by name: via 01 before 03");
});

const graph = fc.integer({ min: 2, max: 12 }).chain((count) =>
  fc.tuple(
    fc.constant(count),
    fc.array(
      fc.tuple(fc.integer({ min: 0, max: count - 1 }), fc.integer({ min: 0, max: count - 1 }))
        .filter(([a, b]) => a !== b),
      { maxLength: 30 },
    ),
  )
);

Deno.test("routes: a broadcast along the source's tree reaches every reachable peer exactly once", () => {
  fc.assert(
    fc.property(graph, ([count, edges]) => {
      const lookup = topo(count, edges);
      for (let s = 0; s < count; s++) {
        const received = new Map<string, number>();
        const queue = [n(s)];
        while (queue.length > 0) {
          const p = queue.shift()!;
          for (const next of broadcastNextHops(n(s), p, lookup) ?? []) {
            received.set(next, (received.get(next) ?? 0) + 1);
            queue.push(next);
          }
        }
        const reachable = [...bfsTree(n(s), lookup).keys()].filter((x) => x !== n(s));
        assert.deepEqual([...received.keys()].sort(), reachable.sort());
        assert.ok([...received.values()].every((v) => v === 1));
        // unicast agrees with reachability, and each next hop is a neighbour
        const r = unicastRoutes(n(s), lookup);
        assert.deepEqual([...r.keys()].sort(), reachable.sort());
        const ns = symmetricNeighbours(n(s), lookup);
        for (const hop of r.values()) assert.ok(ns.includes(hop));
      }
    }),
    { numRuns: 200 },
  );
});

Deno.test("routes: a peer outside the source's tree gets null (it floods instead)", () => {
  const lookup = topo(3, [[0, 1]]);
  assert.equal(broadcastNextHops(n(0), n(2), lookup), null);
  assert.deepEqual(broadcastNextHops(n(0), n(1), lookup), []);
  assert.deepEqual(broadcastNextHops(n(0), n(0), lookup), [n(1)]);
});

Deno.test("relay hops: the tree's children plus neighbours whose end is not in the topology yet", () => {
  const confirmed = new Set(["b", "c"]);
  assert.equal(relayHops(null, ["b"], () => true), null, "not in the tree: gossip floods");
  assert.deepEqual(relayHops(["c"], ["b", "c"], (n) => confirmed.has(n)), ["c"]);
  assert.deepEqual(relayHops(["c"], ["b", "c", "a"], (n) => confirmed.has(n)), ["a", "c"]);
  assert.deepEqual(relayHops([], ["d"], () => false), ["d"]);
});
