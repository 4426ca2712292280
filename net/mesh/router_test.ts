/**
 * The mesh's wiring, over real loopback sockets: what only real sockets and timers can show
 * (bytes on the wire, both ends agreeing, a close noticed, the one timer driving the pure parts).
 * Every decision is tested on a fake clock beside its module: when to dial and back off, what
 * discovery may dial (connection_maker_test), who is admitted and which duplicate stays
 * (admission_test), when a connection is dead or a frame late (liveness_test), when peers are
 * forgotten (periodic_test, topology_store_test), how often a refusal is logged (refusals_test),
 * which broadcasts are relayed (routes_test). What broken and hostile clients get is in
 * router_refusals_test; the conductor on virtual time, with exact timings, router_virtual_test. So no assertion here depends on how long a step
 * took, and every wait is for an event (testing/loopback.ts), with a limit far beyond it.
 */
import assert from "node:assert/strict";
import type { PeerName } from "./gossip_channel.ts";
import type { MeshConfig } from "./router.ts";
import { fullMesh, Loopback, LOOPBACK_TIMING } from "./testing/loopback.ts";

const enc = new TextEncoder(), dec = new TextDecoder();

/** A gossiper over a set of strings: the state a test channel converges on. */
function setGossiper(state: Set<string>, onUnicast: (from: PeerName, d: Uint8Array) => void) {
  return {
    fullState: () => enc.encode([...state].join(",")),
    onGossip: (_f: PeerName, d: Uint8Array) => {
      const news = dec.decode(d).split(",").filter((x) => x && !state.has(x));
      news.forEach((x) => state.add(x));
      return news.length ? enc.encode(news.join(",")) : null;
    },
    onUnicast,
  };
}

Deno.test("mesh: peers given one address each find the rest; simultaneous dials leave one connection per pair", async () => {
  const t = new Loopback();
  try {
    const a = t.node(1), b = t.node(2, { peers: [a.addr] });
    // c and d dial peers that dial them back once discovery tells them: duplicates on both ends.
    const c = t.node(3, { peers: [a.addr, b.addr] });
    const d = t.node(4, { peers: [b.addr, c.addr] });
    const all = [a, b, c, d];
    await t.until(
      "full mesh, duplicates resolved",
      () => fullMesh(all) && all.every((n) => n.mesh.connectionCount() === 3),
    );
    for (const n of all) {
      assert.deepEqual(n.mesh.peers().map((p) => p.reachable), [true, true, true, true]);
      // Without a password there is no data key, even over an established connection.
      for (const m of all) if (m !== n) assert.equal(n.mesh.dataKey(m.mesh.self), undefined);
    }
  } finally {
    await t.stop();
  }
});

Deno.test("mesh: a stopped peer is marked unreachable; a restart (new uid) replaces it; then it is forgotten", async () => {
  const t = new Loopback();
  try {
    const a = t.node(1), b = t.node(2, { peers: [a.addr] }), c = t.node(3, { peers: [a.addr] });
    await t.until("full mesh", () => fullMesh([a, b, c]));
    // c's entry moves past version 1, so its next life (which starts at 1) must replace it by uid.
    for (let i = 0; i < 3; i++) c.mesh.store.setConnections(c.mesh.store.own.connections);
    await t.until(
      "a and b have c's last version",
      () =>
        [a, b].every((n) => n.mesh.store.lookup(c.mesh.self)?.version === c.mesh.store.own.version),
    );
    await c.mesh.stop();
    const isReachable = (n: typeof a, name: PeerName) =>
      n.mesh.peers().find((p) => p.name === name)?.reachable;
    await t.until(
      "c unreachable at a and b",
      () => [a, b].every((n) => isReachable(n, c.mesh.self) === false),
    );
    const c2 = t.node(3, { peers: [b.addr] });
    assert.notEqual(c2.mesh.uid, c.mesh.uid);
    await t.until(
      "c's new life replaces the old at a and b",
      () =>
        fullMesh([a, b, c2]) &&
        [a, b].every((n) => n.mesh.store.lookup(c2.mesh.self)?.uid === c2.mesh.uid),
    );
    await c2.mesh.stop();
    // The router's timer runs the store's forgetting (forgetAfterMs 1.5 s here).
    await t.until(
      "c forgotten at a and b",
      () => [a, b].every((n) => !n.mesh.peers().some((p) => p.name === c2.mesh.self)),
    );
    assert.ok(a.lines.some((l) => /forgot unreachable peer/.test(l)));
    assert.ok(fullMesh([a, b]), "the others keep their connection");
  } finally {
    await t.stop();
  }
});

Deno.test("mesh: wrong, missing or unexpected secrets are refused with a log line on both sides", async () => {
  const t = new Loopback();
  try {
    const a = t.node(1, { password: "pw-right-7f3a" });
    const b = t.node(2, { password: "pw-wrong-91c2", peers: [a.addr] });
    const c = t.node(3, { password: null, peers: [a.addr] });
    const d = t.node(4, { password: "pw-right-7f3a", peers: [a.addr] });
    await t.until("d joins a", () => fullMesh([a, d]));
    await t.until(
      "refusals counted and logged",
      () =>
        (a.mesh.counters.refusals.get("auth-failed") ?? 0) >= 2 &&
        a.lines.some((l) => /"kind":"auth-failed"/.test(l)) &&
        b.lines.some((l) => /wrong password or cluster secret/.test(l)) &&
        c.lines.some((l) => /uses a password or cluster secret but none is set/.test(l)),
    );
    // How often a refusal is logged is refusals_test's (one line per source, kind and 10 s).
    assert.match(
      a.lines.find((l) => /"kind":"auth-failed"/.test(l))!,
      /does not have our password|has no password or cluster secret/,
    );
    for (const n of [a, d]) {
      const names = n.mesh.peers().map((p) => p.name);
      assert.ok(!names.includes(b.mesh.self) && !names.includes(c.mesh.self));
    }
    assert.equal(b.mesh.peers().length, 1, "b never saw the topology");
    // A wrong password is permanent: b's target shows it failed, with why, between retries.
    await t.until(
      "b's target failed",
      () => b.mesh.status().connections.find((x) => x.address === a.addr)?.state === "failed",
    );
    for (const n of [a, b, c, d]) {
      assert.ok(n.lines.every((l) => !/pw-right|pw-wrong/.test(l)), "no password in logs");
    }
  } finally {
    await t.stop();
  }
});

Deno.test("mesh: a cluster secret authenticates the control plane but gives no data key", async () => {
  const t = new Loopback();
  try {
    const a = t.node(1, { clusterSecret: "cs" });
    const b = t.node(2, { clusterSecret: "cs", peers: [a.addr] });
    const stranger = t.node(3, { clusterSecret: "other", peers: [a.addr] });
    await t.until("connected", () => fullMesh([a, b]));
    await t.until(
      "stranger refused",
      () => (a.mesh.counters.refusals.get("auth-failed") ?? 0) >= 1,
    );
    assert.equal(a.mesh.dataKey(b.mesh.self), undefined);
    assert.equal(a.mesh.status().controlAuth, "cluster-secret");
    assert.equal(a.mesh.status().encryption, false);
    assert.equal(stranger.mesh.connectionCount(), 0);
  } finally {
    await t.stop();
  }
});

Deno.test("mesh: both ends of a connection hold the same data key, new for every connection", async () => {
  const t = new Loopback();
  try {
    const a = t.node(1, { password: "pw" });
    const b = t.node(2, { password: "pw", peers: [a.addr] });
    const c = t.node(3, { password: "pw", peers: [a.addr] });
    const wrong = t.node(4, { password: "other", peers: [a.addr] });
    let seen: Uint8Array | undefined;
    const off = a.mesh.onChange(() => (seen = a.mesh.dataKey(b.mesh.self)?.id));
    await t.until("full mesh", () => fullMesh([a, b, c]));
    await t.until("wrong refused", () => (a.mesh.counters.refusals.get("auth-failed") ?? 0) >= 1);
    const ab = a.mesh.dataKey(b.mesh.self)!, ba = b.mesh.dataKey(a.mesh.self)!;
    assert.equal(ab.id.length, 8);
    assert.equal(ab.secret.length, 32);
    assert.deepEqual(ba, ab, "the same id and secret on both ends");
    const ac = a.mesh.dataKey(c.mesh.self)!;
    assert.notDeepEqual(ac.id, ab.id);
    assert.notDeepEqual(ac.secret, ab.secret);
    assert.deepEqual(c.mesh.dataKey(a.mesh.self), ac);
    assert.equal(a.mesh.dataKey(wrong.mesh.self), undefined, "a wrong password: no connection");
    assert.equal(wrong.mesh.dataKey(a.mesh.self), undefined);

    // b restarts: its new connection has a new key, and a's subscribers are told.
    await b.mesh.stop();
    await t.until("b's key gone at a", () => a.mesh.dataKey(b.mesh.self) === undefined);
    await t.until("a's subscriber told", () => seen === undefined);
    const b2 = t.node(2, { password: "pw", peers: [a.addr] });
    const same = (x?: Uint8Array, y?: Uint8Array) =>
      x !== undefined && y !== undefined && x.length === y.length && x.every((v, i) => v === y[i]);
    // A duplicate connection resolved on the way may replace the first key: wait for the one kept.
    await t.until(
      "b2 connected, both ends and a's subscriber on the same key",
      () =>
        fullMesh([a, b2, c]) && same(seen, a.mesh.dataKey(b2.mesh.self)?.id) &&
        same(b2.mesh.dataKey(a.mesh.self)?.secret, a.mesh.dataKey(b2.mesh.self)?.secret),
    );
    const ab2 = a.mesh.dataKey(b2.mesh.self)!;
    assert.notDeepEqual(ab2.id, ab.id);
    assert.notDeepEqual(ab2.secret, ab.secret);
    off();
  } finally {
    await t.stop();
  }
});

Deno.test("mesh: over a line, channels broadcast to all and unicast hop by hop; routes follow the topology", async () => {
  const t = new Loopback();
  try {
    // a - b - c: the ends may hold one connection each, so a and c are not neighbours.
    const a = t.node(1, { connLimit: 1 }), b = t.node(2, { peers: [a.addr] });
    const c = t.node(3, { connLimit: 1, peers: [b.addr] });
    const [na, nb, nc] = [a, b, c].map((n) => n.mesh.self);
    let changes = 0;
    a.mesh.onChange(() => changes++);
    await t.until(
      "line",
      () =>
        [a, c].every((n) =>
          n.mesh.peers().length === 3 && n.mesh.peers().every((p) => p.reachable)
        ),
    );
    assert.equal(a.mesh.nextHop(nc), nb, "a reaches c through b");
    assert.equal(a.mesh.nextHop(nb), nb, "a neighbour is its own next hop");
    assert.equal(a.mesh.nextHop("02:00:00:00:00:99"), undefined);
    assert.deepEqual(a.mesh.broadcastChildren(na), [nb], "own broadcasts go to every neighbour");
    assert.deepEqual(b.mesh.broadcastChildren(na), [nc], "b relays a's broadcasts to c");
    assert.deepEqual(c.mesh.broadcastChildren(na), [], "c is a leaf of a's tree");
    await t.until("onChange told a of the topology", () => changes > 0);

    const unicasts = new Map<PeerName, [PeerName, string]>();
    const states = [a, b, c].map(() => new Set<string>());
    const chans = [a, b, c].map((n, i) =>
      n.mesh.channel(
        "test",
        setGossiper(states[i], (from, d) => unicasts.set(n.mesh.self, [from, dec.decode(d)])),
      )
    );
    chans[0].broadcast(enc.encode("x"));
    await t.until("broadcast reached c", () => states[2].has("x"));
    assert.ok(chans[2].unicast(na, enc.encode("hi")));
    await t.until("unicast reached a", () => unicasts.has(na));
    assert.deepEqual(unicasts.get(na), [nc, "hi"]);
    assert.equal(unicasts.has(nb), false, "b relayed it, not took it");
    assert.equal(chans[0].unicast("02:00:00:00:00:99", new Uint8Array()), false);

    // b goes away: the routes through it go with it (a and c may then dial each other directly).
    await b.mesh.stop();
    await t.until("a's route to c no longer through b", () => a.mesh.nextHop(nc) !== nb);
    assert.ok(!a.mesh.broadcastChildren(na).includes(nb));
  } finally {
    await t.stop();
  }
});

Deno.test("mesh: a line coming up at once converges without anti-entropy (topology and channels)", async () => {
  // Anti-entropy first runs 450 s or more after start (±25 % of 600 s): far beyond the wait.
  const timing = { ...LOOPBACK_TIMING, antiEntropyMs: 600_000 };
  for (let trial = 0; trial < 3; trial++) {
    const t = new Loopback();
    try {
      const states: Set<string>[] = [];
      const mk = (i: number, opts: Partial<MeshConfig>) => {
        const n = t.node(i, { timing, ...opts });
        const st = new Set([`r${i}`]);
        states.push(st);
        // Each peer announces itself before it has a connection (the data plane does so).
        n.mesh.channel("test", setGossiper(st, () => {})).broadcast(enc.encode(`r${i}`));
        return n;
      };
      const b = mk(2, {});
      const a = mk(1, { connLimit: 1, peers: [b.addr] });
      const c = mk(3, { connLimit: 1, peers: [b.addr] });
      await t.until(
        "every peer knows every peer and every channel entry",
        () =>
          [a, b, c].every((n) => n.mesh.peers().length === 3) &&
          states.every((st) => st.size === 3),
      );
    } finally {
      await t.stop();
    }
  }
});

Deno.test("mesh: targets set at run time are dialled; dropped ones leave status, their connection stays", async () => {
  const t = new Loopback();
  try {
    const a = t.node(1), b = t.node(2), c = t.node(3);
    a.mesh.setTargets([b.addr]);
    await t.until("a-b", () => fullMesh([a, b]));
    assert.deepEqual(a.mesh.status().targets, [b.addr]);
    a.mesh.setTargets([c.addr, "127.0.0.1:1"]);
    await t.until("full mesh", () => fullMesh([a, b, c]));
    assert.deepEqual(a.mesh.status().targets.sort(), ["127.0.0.1:1", c.addr].sort());
    assert.equal(a.mesh.connectionCount(), 2, "dropping a target keeps its connection");
    a.mesh.setTargets([]);
    assert.deepEqual(a.mesh.status().targets, []);
    assert.ok(!a.mesh.status().connections.some((x) => x.address === "127.0.0.1:1"));
  } finally {
    await t.stop();
  }
});

Deno.test("mesh: a failing component (listener, channel state) is logged and the mesh carries on", async () => {
  const t = new Loopback();
  try {
    const a = t.node(1);
    a.mesh.onChange(() => {
      throw new Error("listener boom");
    });
    a.mesh.channel("broken", {
      fullState: () => {
        throw new Error("state boom");
      },
      onGossip: () => null,
      onUnicast: () => {},
    });
    const b = t.node(2, { peers: [a.addr] });
    await t.until("connected", () => fullMesh([a, b]));
    await t.until(
      "both logged",
      () =>
        a.lines.some((l) => /listener boom/.test(l)) && a.lines.some((l) => /state boom/.test(l)),
    );
    assert.ok(fullMesh([a, b]));
  } finally {
    await t.stop();
  }
});
