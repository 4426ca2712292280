import assert from "node:assert/strict";
import { TestKeyring } from "./testing/keyring.ts";
import { type ConnectionRecord, MAX_VERSION_STEP, type PeerEntry, signEntry } from "./topology.ts";
import { TopologyStore } from "./topology_store.ts";

const ring = new TestKeyring();
const name = (i: number) =>
  `02:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${
    (i & 255).toString(16).padStart(2, "0")
  }`;
const id = (n: number, uid = (n + 1).toString(16).padStart(16, "0")) => ({
  name: name(n),
  nickname: `p${n}`,
  uid,
});
const store = (n: number, opts = {}, uid?: string) =>
  new TopologyStore(id(n, uid), ring.key(name(n)), opts);
const rec = (n: number, outbound = true): ConnectionRecord => ({
  name: name(n),
  address: `10.0.0.${n & 255}:6783`,
  outbound,
  established: true,
});
/** An entry for peer `n`, signed with its key. */
const entry = (n: number, version: number, conns: number[] = []): PeerEntry =>
  signEntry(
    { ...id(n), version, connections: conns.map((c) => rec(c)) },
    ring.key(name(n)).publicKey,
    (d, p) => ring.key(name(n)).sign(d, p),
  );

function link(a: TopologyStore, b: TopologyStore): void {
  const r = (s: TopologyStore, outbound: boolean): ConnectionRecord => ({
    name: s.self,
    address: "x:1",
    outbound,
    established: true,
  });
  a.setConnections([...a.own.connections, r(b, true)]);
  b.setConnections([...b.own.connections, r(a, false)]);
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

Deno.test("store: the own entry is signed on every change", () => {
  const a = store(1);
  const v = a.own.version;
  const e = a.setConnections([rec(2)]);
  assert.equal(e.version, v + 1);
  assert.deepEqual(e.key, ring.key(name(1)).publicKey);
  assert.equal(a.lookup(a.self), e);
});

Deno.test("store: a restarted peer (same key, new uid) replaces its old entry everywhere", () => {
  const a = store(1), b = store(2);
  link(a, b);
  for (let i = 0; i < 5; i++) b.setConnections(b.own.connections); // old life: high version
  converge(a, b);
  const oldVersion = a.lookup(b.self)!.version;
  const b2 = store(2, {}, "00000000000000aa");
  // The new life starts low, hears of its old entry, and jumps beyond it.
  const delta = b2.apply([...a.entries()]);
  assert.ok(b2.own.version > oldVersion);
  assert.ok(delta.some((e) => e.name === b2.self && e.uid === "00000000000000aa"));
  a.apply(delta);
  assert.equal(a.lookup(b2.self)!.uid, "00000000000000aa");
  // and the stale copy of the old life never wins back
  assert.equal(a.apply([b.own]).length, 0);
});

Deno.test("store: an entry with our own uid above our version, signed with our key, is outbid", () => {
  const a = store(1), b = store(2);
  link(a, b);
  converge(a, b);
  // A holder of a's key signs a's uid at a higher version, listing a connection a does not have.
  const held = a.own;
  const stale = signEntry(
    { ...id(1), version: held.version + 1, connections: [...held.connections, rec(3)] },
    ring.key(name(1)).publicKey,
    (d, p) => ring.key(name(1)).sign(d, p),
  );
  assert.equal(b.apply([stale]).length, 1, "b takes it: it verifies and outranks");
  const delta = a.apply([stale]);
  assert.ok(a.own.version > stale.version, "a jumps past it");
  assert.deepEqual(delta, [a.own]);
  b.apply(delta);
  assert.deepEqual(b.lookup(a.self)!.connections, held.connections, "a's own word wins at b");
  // Negative controls: a's own entry relayed back, or an older copy, changes nothing.
  const v = a.own.version;
  assert.deepEqual(a.apply([a.own, held]), []);
  assert.equal(a.own.version, v);
});

Deno.test("store: two live peers with one name stop outbidding each other and report it", () => {
  const a = store(1), twin = store(1, {}, "00000000000000bb");
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

Deno.test("store: peers unreachable from here are forgotten after the grace period", () => {
  const a = store(1), b = store(2), c = store(3);
  link(a, b);
  link(b, c);
  converge(a, b, c);
  assert.ok(a.reachable(c.self));
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

Deno.test("store: a version may move at most MAX_VERSION_STEP past the one held", () => {
  const a = store(1);
  a.apply([entry(2, 5)]);
  assert.equal(a.isNews(entry(2, 5 + MAX_VERSION_STEP + 1)), false);
  assert.equal(a.refusals.get("version-jump"), 1);
  assert.equal(a.apply([entry(2, 5 + MAX_VERSION_STEP + 1)]).length, 0);
  assert.equal(a.isNews(entry(2, 5 + MAX_VERSION_STEP)), true);
  // A name not held yet: any version under the cap.
  assert.equal(a.isNews(entry(3, 2 ** 39)), true);
});

Deno.test("store: bounded; unreachable peers go first, least recently updated first", () => {
  const a = store(0, { limits: { peers: 6, unreachable: 2 } });
  const b = store(1);
  link(a, b);
  a.apply([b.own]);
  // Three unreachable peers: one over the bound, the first to arrive goes.
  assert.equal(a.apply([entry(10, 1), entry(11, 1), entry(12, 1)]).length, 3);
  assert.deepEqual([...a.entries()].map((e) => e.name).sort(), [0, 1, 11, 12].map(name));
  assert.equal(a.refusals.get("evicted-unreachable"), 1);
  // Reachable peers (b's neighbours) fill the store; room is made among unreachable ones.
  const c = entry(2, 1, [1]), d = entry(3, 1, [1]);
  b.setConnections([...b.own.connections, rec(2), rec(3)]);
  assert.equal(a.apply([b.own, c, d]).length, 3);
  assert.equal(a.size, 6);
  assert.ok(a.reachable(name(2)) && a.reachable(name(3)));
  // Full of reachable peers and still unreachable ones: a new name makes room, then is refused.
  assert.equal(a.apply([entry(13, 1)]).length, 1);
  assert.equal(a.size, 6);
  b.setConnections([...b.own.connections, rec(4), rec(5)]);
  a.apply([b.own, entry(4, 1, [1]), entry(5, 1, [1])]);
  assert.equal(a.size, 6);
  const full = a.refusals.get("full") ?? 0;
  assert.equal(a.apply([entry(6, 1, [1])]).length, 0);
  assert.equal(a.refusals.get("full"), full + 1);
  // Updates of entries held are still taken.
  assert.equal(a.apply([entry(2, 2, [1])]).length, 1);
});

Deno.test("store: connection records are bounded over all entries", () => {
  const a = store(0, { limits: { connections: 5 } });
  assert.equal(a.apply([entry(1, 1, [2, 3, 4])]).length, 1);
  assert.equal(a.apply([entry(2, 1, [1, 3, 4])]).length, 0, "3 + 3 > 5");
  assert.equal(a.refusals.get("full"), 1);
  assert.equal(a.apply([entry(1, 2, [2])]).length, 1, "shrinking is fine");
  assert.equal(a.apply([entry(2, 1, [1, 3, 4])]).length, 1);
});

Deno.test("store: drop removes an entry (a key replaced or forgotten) but never our own", () => {
  const a = store(1);
  a.apply([entry(2, 3)]);
  let changes = 0;
  a.onChange(() => changes++);
  assert.equal(a.drop(name(2)), true);
  assert.equal(a.lookup(name(2)), undefined);
  assert.equal(a.drop(a.self), false);
  assert.equal(changes, 1);
  // After a drop any version of the name is news again.
  assert.equal(a.isNews(entry(2, 1)), true);
});

Deno.test("store: a shared base is read under local entries", () => {
  const base = new Map([[name(2), entry(2, 4, [1])], [name(1), entry(1, 9)]]);
  const a = store(1, { base });
  assert.ok(a.own.version > 9, "our own entry starts past the base's");
  assert.equal(a.size, 2);
  a.setConnections([rec(2)]);
  assert.ok(a.reachable(name(2)));
  assert.ok(a.drop(name(2)));
  assert.equal(a.size, 1);
  assert.equal(base.size, 2);
});

Deno.test("store: the full state lists reachable peers first, breadth-first from here", () => {
  const a = store(1), b = store(2), c = store(3);
  link(a, b);
  link(b, c);
  converge(a, b, c);
  a.apply([entry(9, 1)]); // unreachable
  const order = [...a.ordered()].map((e) => e.name);
  assert.deepEqual(order, [a.self, b.self, c.self, name(9)]);
});
