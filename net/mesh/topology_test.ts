import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type ConnectionRecord,
  decodeUpdate,
  encodeUpdate,
  mergeTopology,
  type PeerEntry,
  type Topology,
  TopologyDecodeError,
} from "./topology.ts";
import { decodeDigest, TopologyStore } from "./topology_store.ts";

const NAMES = ["02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03", "02:00:00:00:00:04"];
const name = fc.constantFrom(...NAMES);
const conn: fc.Arbitrary<ConnectionRecord> = fc.record({
  name,
  address: fc.constantFrom("10.0.0.1:6783", "10.0.0.2:6783"),
  outbound: fc.boolean(),
  established: fc.boolean(),
}).map((c) => ({ ...c }));
const entry: fc.Arbitrary<PeerEntry> = fc.record({
  name,
  nickname: fc.constantFrom("a", "b"),
  uid: fc.constantFrom("0000000000000001", "00000000000000ff"),
  version: fc.integer({ min: 0, max: 3 }),
  connections: fc.uniqueArray(conn, { selector: (c) => c.name, maxLength: 3 })
    .map((cs) => cs.sort((x, y) => x.name.localeCompare(y.name))),
}).map((e) => ({ ...e }));
const topology: fc.Arbitrary<Topology> = fc.array(entry, { maxLength: 6 }).map((es) =>
  es.reduce((t, e) => mergeTopology(t, new Map([[e.name, e]])), new Map<string, PeerEntry>())
);

function same(a: Topology, b: Topology): void {
  assert.deepEqual(new Map([...a].sort()), new Map([...b].sort()));
}

Deno.test("topology: merge is idempotent, commutative and associative", () => {
  fc.assert(
    fc.property(topology, topology, topology, (a, b, c) => {
      same(mergeTopology(a, a), a);
      same(mergeTopology(a, b), mergeTopology(b, a));
      same(mergeTopology(mergeTopology(a, b), c), mergeTopology(a, mergeTopology(b, c)));
    }),
    { numRuns: 500 },
  );
});

Deno.test("topology: updates survive the codec and malformed updates are typed errors", () => {
  fc.assert(fc.property(fc.array(entry, { maxLength: 5 }), (es) => {
    assert.deepEqual(decodeUpdate(encodeUpdate(es)), es);
  }));
  const bad = [
    "not json",
    "{}",
    '{"peers":[{"name":"zz"}]}',
    '{"peers":[{"name":"02:00:00:00:00:01","nickname":"a","uid":"1","version":1,"connections":[]}]}',
    JSON.stringify({ peers: [{ ...fc.sample(entry, 1)[0], version: -1 }] }),
  ];
  for (const b of bad) {
    assert.throws(() => decodeUpdate(new TextEncoder().encode(b)), TopologyDecodeError, b);
  }
});

const id = (n: number, uid = "000000000000000" + n) => ({
  name: NAMES[n - 1],
  nickname: `p${n}`,
  uid,
});

function link(a: TopologyStore, b: TopologyStore): void {
  const rec = (s: TopologyStore, outbound: boolean): ConnectionRecord => ({
    name: s.self,
    address: "x:1",
    outbound,
    established: true,
  });
  a.setConnections([...a.own.connections, rec(b, true)]);
  b.setConnections([...b.own.connections, rec(a, false)]);
}

/** Exchanges full state until nothing changes (what gossip converges to). */
function converge(...stores: TopologyStore[]): void {
  for (let changed = true; changed;) {
    changed = false;
    for (const x of stores) {
      for (const y of stores) {
        if (x !== y && y.apply([...x.entries()]).length > 0) changed = true;
      }
    }
  }
}

Deno.test("topology: a restarted peer (new uid) replaces its old entry everywhere", () => {
  const a = new TopologyStore(id(1)), b = new TopologyStore(id(2));
  link(a, b);
  for (let i = 0; i < 5; i++) b.setConnections(b.own.connections); // old life: high version
  converge(a, b);
  const oldVersion = a.lookup(b.self)!.version;
  const b2 = new TopologyStore(id(2, "00000000000000aa"));
  // The new life starts low, hears of its old entry, and jumps beyond it.
  const delta = b2.apply([...a.entries()]);
  assert.ok(b2.own.version > oldVersion);
  assert.ok(delta.some((e) => e.name === b2.self && e.uid === "00000000000000aa"));
  a.apply(delta);
  assert.equal(a.lookup(b2.self)!.uid, "00000000000000aa");
  // and the stale copy of the old life never wins back
  assert.equal(a.apply([{ ...b.own, version: oldVersion }]).length, 0);
});

Deno.test("topology: peers unreachable from here are forgotten after the grace period", () => {
  const a = new TopologyStore(id(1)), b = new TopologyStore(id(2)), c = new TopologyStore(id(3));
  link(a, b);
  link(b, c);
  converge(a, b, c);
  assert.ok(a.reachable(c.self));
  // b loses c: c becomes unreachable from a, but is kept for the grace period.
  b.setConnections(b.own.connections.filter((x) => x.name !== c.self));
  a.apply([b.own]);
  assert.equal(a.reachable(c.self), false);
  assert.deepEqual(a.forgetUnreachable(1_000, 60_000), []);
  assert.deepEqual(a.forgetUnreachable(30_000, 60_000), []);
  assert.ok(a.lookup(c.self));
  assert.deepEqual(a.forgetUnreachable(61_000, 60_000), [c.self]);
  assert.equal(a.lookup(c.self), undefined);
  assert.equal(a.size, 2);
});

Deno.test("topology: the store reports changes and the gossiper returns only news", () => {
  const a = new TopologyStore(id(1)), b = new TopologyStore(id(2));
  let changes = 0;
  a.onChange(() => changes++);
  link(a, b);
  const ga = a.gossiper(), gb = b.gossiper();
  const news = ga.onGossip(b.self, gb.fullState());
  assert.ok(news !== null);
  assert.deepEqual(decodeUpdate(news).map((e) => e.name), [b.self]);
  assert.equal(ga.onGossip(b.self, gb.fullState()), null, "re-delivery is not news");
  assert.equal(changes, 2);
});

Deno.test("topology: a digest exchange sends only what the other side lacks", () => {
  const a = new TopologyStore(id(1)), b = new TopologyStore(id(2)), c = new TopologyStore(id(3));
  link(a, b);
  link(b, c);
  converge(a, b);
  b.apply([c.own]); // b knows c, a does not
  const ga = a.gossiper(), gb = b.gossiper();
  const fromA = gb.onDigest!(a.self, ga.digest!());
  assert.deepEqual(decodeUpdate(fromA.update!).map((e) => e.name), [c.self]);
  assert.equal(fromA.behind, false);
  // the other way round: a is behind, and b's answer tells a nothing new
  const fromB = ga.onDigest!(b.self, gb.digest!());
  assert.equal(fromB.update, null);
  assert.equal(fromB.behind, true);
  assert.deepEqual(
    [...decodeDigest(gb.digest!())].map(([n, s]) => [n, s.version]).sort(),
    [
      [a.self, a.own.version],
      [b.self, b.own.version],
      [c.self, c.own.version],
    ].sort(),
  );
  assert.throws(() => decodeDigest(new Uint8Array(5)), TopologyDecodeError);
});

Deno.test("topology: two live peers with one name stop outbidding each other and report it", () => {
  const a = new TopologyStore(id(1)), twin = new TopologyStore(id(1, "00000000000000bb"));
  const conflicts: string[] = [];
  a.onNameConflict((uid) => conflicts.push(uid));
  let rounds = 0;
  for (; rounds < 50; rounds++) {
    const fromTwin = twin.apply([a.own]);
    const fromA = a.apply([twin.own]);
    if (fromTwin.length === 0 && fromA.length === 0) break;
  }
  assert.ok(rounds < 50, "the bidding ends");
  assert.deepEqual(conflicts, ["00000000000000bb"]);
});
