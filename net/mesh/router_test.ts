/**
 * The mesh over real loopback sockets, for what only the TCP transport can show: peers finding
 * each other and resolving duplicate dials, a stopped process's closed sockets noticed (then the
 * peer replaced by its restart, then forgotten), and the handshake's data key on both ends. The
 * rest runs the same conductor on virtual time with exact timings (router_virtual_test,
 * mesh_virtual_test), and every decision has a fake-clock test beside its module. What broken
 * and hostile clients get over real sockets is router_refusals_test's. No assertion here depends
 * on how long a step took; every wait is for an event (testing/loopback.ts), with a limit far
 * beyond it.
 */
import assert from "node:assert/strict";
import type { PeerName } from "./gossip_channel.ts";
import { fullMesh, Loopback } from "./testing/loopback.ts";

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
