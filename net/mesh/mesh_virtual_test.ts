/**
 * What the mesh does for its components and operators, end to end through the real conductor on
 * virtual time and an in-memory network (testing/virtual_mesh.ts): secrets, data keys, gossip
 * channels and routes, run-time targets, failing components, a restarted peer. Deterministic:
 * every wait is on the virtual clock, so a loaded machine cannot make these fail or pass.
 */
import assert from "node:assert/strict";
import type { PeerName } from "./gossip_channel.ts";
import type { Mesh } from "./router.ts";
import { addr, fullMesh, VIRTUAL_TIMING, VirtualMeshes } from "./testing/virtual_mesh.ts";

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

Deno.test("virtual mesh: wrong, missing or unexpected secrets are refused, logged on both sides, never shown", async () => {
  const w = new VirtualMeshes();
  try {
    const a = w.node(1, { password: "pw-right-7f3a" });
    const b = w.node(2, { password: "pw-wrong-91c2", peers: [addr(1)] });
    const c = w.node(3, { password: null, peers: [addr(1)] });
    const d = w.node(4, { password: "pw-right-7f3a", peers: [addr(1)] });
    await w.clock.until("d joins a", () => fullMesh([a, d]));
    await w.clock.advance(2_000);
    const lines = (i: number) => w.lines.get(i)!;
    assert.ok((a.counters.refusals.get("auth-failed") ?? 0) >= 2);
    assert.match(
      lines(1).find((l) => /"kind":"auth-failed"/.test(l))!,
      /does not have our password|has no password or cluster secret/,
    );
    assert.ok(lines(2).some((l) => /wrong password or cluster secret/.test(l)));
    assert.ok(lines(3).some((l) => /uses a password or cluster secret but none is set/.test(l)));
    for (const n of [a, d]) {
      const names = n.peers().map((p) => p.name);
      assert.ok(!names.includes(b.self) && !names.includes(c.self));
    }
    assert.equal(b.peers().length, 1, "b never saw the topology");
    // A wrong password is permanent: b's target shows it failed, with why, between retries.
    await w.clock.until(
      "b's target failed",
      () => b.status().connections.find((x) => x.address === addr(1))?.state === "failed",
      10_000,
      1,
    );
    for (const i of [1, 2, 3, 4]) {
      assert.ok(lines(i).every((l) => !/pw-right|pw-wrong/.test(l)), "no password in logs");
    }
  } finally {
    await w.stop();
  }
});

Deno.test("virtual mesh: a cluster secret authenticates the control plane but gives no data key", async () => {
  const w = new VirtualMeshes();
  try {
    const a = w.node(1, { clusterSecret: "cs" });
    const b = w.node(2, { clusterSecret: "cs", peers: [addr(1)] });
    const stranger = w.node(3, { clusterSecret: "other", peers: [addr(1)] });
    await w.clock.until("connected", () => fullMesh([a, b]));
    await w.clock.until(
      "stranger refused",
      () => (a.counters.refusals.get("auth-failed") ?? 0) >= 1,
    );
    assert.equal(a.dataKey(b.self), undefined);
    assert.equal(a.status().controlAuth, "cluster-secret");
    assert.equal(a.status().encryption, false);
    assert.equal(stranger.connectionCount(), 0);
  } finally {
    await w.stop();
  }
});

Deno.test("virtual mesh: both ends hold the same data key, new for every connection; subscribers are told", async () => {
  const w = new VirtualMeshes();
  try {
    const a = w.node(1, { password: "pw" });
    const b = w.node(2, { password: "pw", peers: [addr(1)] });
    const c = w.node(3, { password: "pw", peers: [addr(1)] });
    let seen: Uint8Array | undefined;
    a.onChange(() => (seen = a.dataKey(b.self)?.id));
    await w.clock.until("full mesh", () => fullMesh([a, b, c]));
    const ab = a.dataKey(b.self)!;
    assert.equal(ab.id.length, 8);
    assert.equal(ab.secret.length, 32);
    assert.deepEqual(b.dataKey(a.self), ab, "the same id and secret on both ends");
    const ac = a.dataKey(c.self)!;
    assert.notDeepEqual(ac.secret, ab.secret);
    assert.deepEqual(c.dataKey(a.self), ac);
    await w.clock.advance(200); // the change notifier's interval
    assert.deepEqual(seen, ab.id);
    // b restarts: a new connection, a new key, and a's subscriber is told of each change.
    await b.stop();
    await w.clock.until("b's key gone", () => a.dataKey(b.self) === undefined && !seen);
    const b2 = w.node(2, { password: "pw", peers: [addr(1)] });
    await w.clock.until("b2 connected", () => fullMesh([a, b2, c]));
    await w.clock.advance(200);
    const ab2 = a.dataKey(b2.self)!;
    assert.deepEqual(b2.dataKey(a.self), ab2);
    assert.deepEqual(seen, ab2.id);
    assert.notDeepEqual(ab2.secret, ab.secret);
  } finally {
    await w.stop();
  }
});

/** a - b - c: the ends may hold one connection each, so a and c are not neighbours. */
function lineOfThree(w: VirtualMeshes, timing = VIRTUAL_TIMING): Mesh[] {
  const b = w.node(2, { timing });
  const a = w.node(1, { timing, connLimit: 1, peers: [addr(2)] });
  const c = w.node(3, { timing, connLimit: 1, peers: [addr(2)] });
  return [a, b, c];
}

Deno.test("virtual mesh: over a line, channels broadcast to all and unicast hop by hop; routes follow the topology", async () => {
  const w = new VirtualMeshes();
  try {
    const [a, b, c] = lineOfThree(w);
    await w.clock.until(
      "line",
      () => [a, c].every((n) => n.peers().length === 3 && n.peers().every((p) => p.reachable)),
    );
    assert.equal(a.nextHop(c.self), b.self, "a reaches c through b");
    assert.equal(a.nextHop(b.self), b.self);
    assert.deepEqual(a.broadcastChildren(a.self), [b.self]);
    assert.deepEqual(b.broadcastChildren(a.self), [c.self], "b relays a's broadcasts to c");
    assert.deepEqual(c.broadcastChildren(a.self), [], "c is a leaf of a's tree");
    const unicasts = new Map<PeerName, [PeerName, string]>();
    const states = [a, b, c].map(() => new Set<string>());
    const chans = [a, b, c].map((n, i) =>
      n.channel("test", setGossiper(states[i], (f, d) => unicasts.set(n.self, [f, dec.decode(d)])))
    );
    chans[0].broadcast(enc.encode("x"));
    await w.clock.advance(10);
    assert.ok(states[2].has("x"), "the broadcast reached c");
    assert.ok(chans[2].unicast(a.self, enc.encode("hi")));
    await w.clock.advance(10);
    assert.deepEqual(unicasts.get(a.self), [c.self, "hi"]);
    assert.equal(unicasts.has(b.self), false, "b relayed it, not took it");
    assert.equal(chans[0].unicast("02:00:00:00:00:99", new Uint8Array()), false);
    // b goes away: the routes through it go with it.
    await b.stop();
    await w.clock.until("a's route to c not through b", () => a.nextHop(c.self) !== b.self);
    assert.ok(!a.broadcastChildren(a.self).includes(b.self));
  } finally {
    await w.stop();
  }
});

Deno.test("virtual mesh: a line coming up at once converges without anti-entropy (topology and channels)", async () => {
  const w = new VirtualMeshes();
  try {
    // Anti-entropy first runs 450 s or more after start (±25 % of 600 s): far beyond the wait.
    const timing = { ...VIRTUAL_TIMING, antiEntropyMs: 600_000 };
    const states = [1, 2, 3].map((i) => new Set([`r${i}`]));
    const nodes = lineOfThree(w, timing);
    // Each peer announces itself before it has a connection (the data plane does so).
    for (const n of nodes) {
      const i = Number(n.self.slice(-1));
      n.channel("test", setGossiper(states[i - 1], () => {})).broadcast(enc.encode(`r${i}`));
    }
    const ms = await w.clock.until(
      "every peer knows every peer and every channel entry",
      () => nodes.every((n) => n.peers().length === 3) && states.every((st) => st.size === 3),
    );
    assert.ok(ms < 5_000, `converged in ${ms} virtual ms`);
  } finally {
    await w.stop();
  }
});

Deno.test("virtual mesh: targets set at run time are dialled; dropped ones leave status, their connection stays", async () => {
  const w = new VirtualMeshes();
  try {
    const a = w.node(1), b = w.node(2), c = w.node(3);
    a.setTargets([addr(2)]);
    await w.clock.until("a-b", () => fullMesh([a, b]));
    assert.deepEqual(a.status().targets, [addr(2)]);
    a.setTargets([addr(3), "10.0.0.99:6783"]);
    await w.clock.until("full mesh", () => fullMesh([a, b, c]));
    assert.deepEqual(a.status().targets.sort(), [addr(3), "10.0.0.99:6783"].sort());
    assert.equal(a.connectionCount(), 2, "dropping a target keeps its connection");
    const dialsTo99 = () => w.net.dials.filter((d) => d.to === "10.0.0.99:6783").length;
    a.setTargets([]);
    const before = dialsTo99();
    await w.clock.advance(10_000);
    assert.equal(dialsTo99(), before, "a dropped target is no longer retried");
    assert.deepEqual(a.status().targets, []);
  } finally {
    await w.stop();
  }
});

Deno.test("virtual mesh: a failing component (listener, channel state) is logged and the mesh carries on", async () => {
  const w = new VirtualMeshes();
  try {
    const a = w.node(1);
    a.onChange(() => {
      throw new Error("listener boom");
    });
    a.channel("broken", {
      fullState: () => {
        throw new Error("state boom");
      },
      onGossip: () => null,
      onUnicast: () => {},
    });
    const b = w.node(2, { peers: [addr(1)] });
    await w.clock.until("connected", () => fullMesh([a, b]));
    await w.clock.advance(1_000);
    const lines = w.lines.get(1)!;
    assert.ok(lines.some((l) => /listener boom/.test(l)));
    assert.ok(lines.some((l) => /state boom/.test(l)));
    assert.ok(fullMesh([a, b]));
  } finally {
    await w.stop();
  }
});
