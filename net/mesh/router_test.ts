import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { ControlConnection } from "./connection.ts";
import type { PeerName } from "./gossip_channel.ts";
import { MAX_INBOUND_HANDSHAKES, Mesh, type MeshConfig, parsePeerAddress } from "./router.ts";
import { FAST_MESH_TIMING } from "./testing/fast_timing.ts";
import { TestKeyring } from "./testing/keyring.ts";

// Unreachable peers are forgotten quickly here: some tests wait for it.
const FAST = { ...FAST_MESH_TIMING, forgetAfterMs: 1_500 };

interface Node {
  mesh: Mesh;
  lines: string[];
  addr: string;
}

const started: Mesh[] = [];

// A peer keeps its signing key across restarts (the daemon keeps it in its data dir).
const ring = new TestKeyring();

function node(i: number, opts: Partial<MeshConfig> = {}): Node {
  const lines: string[] = [];
  const mesh = new Mesh({
    name: `02:00:00:00:00:0${i}`,
    signingKey: ring.key(`02:00:00:00:00:0${i}`),
    nickname: `n${i}`,
    host: "127.0.0.1",
    port: 0,
    password: null,
    connLimit: 10,
    peers: [],
    timing: FAST,
    log: new Logger({ json: true, level: "debug", sink: { write: (l) => lines.push(l) } }),
    ...opts,
  });
  mesh.start();
  started.push(mesh);
  return { mesh, lines, addr: `127.0.0.1:${mesh.port}` };
}

async function stopAll() {
  await Promise.all(started.splice(0).map((m) => m.stop()));
}

async function until(what: string, cond: () => boolean, ms = 5_000): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}

function fullMesh(nodes: Node[]): boolean {
  return nodes.every((n) => {
    const s = n.mesh.status();
    return s.peers.length === nodes.length &&
      s.peers.every((p) =>
        p.connections.length === nodes.length - 1 && p.connections.every((c) => c.established)
      );
  });
}

Deno.test("mesh: peers given one address each discover the rest and form a full mesh", async () => {
  try {
    const a = node(1);
    const b = node(2, { peers: [a.addr] });
    const c = node(3, { peers: [b.addr] });
    const ms = await until("full mesh", () => fullMesh([a, b, c]));
    assert.ok(ms < 5_000);
    for (const n of [a, b, c]) {
      assert.equal(n.mesh.connectionCount(), 2, "one connection per pair, duplicates resolved");
      assert.deepEqual(n.mesh.peers().map((p) => p.reachable), [true, true, true]);
    }
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: simultaneous dials resolve to one connection, the same on both ends", async () => {
  try {
    const a = node(1), b = node(2);
    const a2 = node(3, { peers: [a.addr, b.addr] });
    const b2 = node(4, { peers: [a.addr, b.addr, a2.addr] });
    await until("full mesh", () => fullMesh([a, b, a2, b2]));
    await new Promise((r) => setTimeout(r, 300));
    for (const n of [a, b, a2, b2]) assert.equal(n.mesh.connectionCount(), 3);
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: a stopped peer is marked unreachable, then forgotten; a restart replaces it", async () => {
  try {
    const a = node(1), b = node(2, { peers: [a.addr] }), c = node(3, { peers: [a.addr] });
    await until("full mesh", () => fullMesh([a, b, c]));
    const oldUid = c.mesh.uid;
    await c.mesh.stop();
    const seen = await until(
      "c unreachable at a and b",
      () =>
        [a, b].every((n) =>
          n.mesh.peers().find((p) => p.name === c.mesh.self)?.reachable === false
        ),
    );
    assert.ok(seen < 1_500, `took ${seen} ms`);
    await until(
      "c forgotten",
      () => [a, b].every((n) => !n.mesh.peers().some((p) => p.name === c.mesh.self)),
    );
    const c2 = node(3, { peers: [b.addr] });
    assert.notEqual(c2.mesh.uid, oldUid);
    await until("rejoined", () => fullMesh([a, b, c2]));
    for (const n of [a, b]) {
      assert.equal(n.mesh.status().peers.find((p) => p.name === c2.mesh.self)!.uid, c2.mesh.uid);
    }
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: the new life of a peer that restarts before it is forgotten replaces the old", async () => {
  try {
    const a = node(1), b = node(2, { peers: [a.addr] });
    await until("connected", () => fullMesh([a, b]));
    for (let i = 0; i < 3; i++) b.mesh.store.setConnections(b.mesh.store.own.connections);
    await until(
      "a has b's version",
      () => a.mesh.store.lookup(b.mesh.self)?.version === b.mesh.store.own.version,
    );
    await b.mesh.stop();
    const b2 = node(2, { peers: [a.addr] });
    await until(
      "b2 replaces b at a",
      () => a.mesh.store.lookup(b2.mesh.self)?.uid === b2.mesh.uid && fullMesh([a, b2]),
    );
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: wrong, missing or unexpected passwords are refused with a log line on both sides", async () => {
  try {
    const a = node(1, { password: "right" });
    const b = node(2, { password: "wrong", peers: [a.addr] });
    const c = node(3, { password: null, peers: [a.addr] });
    const d = node(4, { password: "right", peers: [a.addr] });
    await until("d joins a", () => fullMesh([a, d]));
    await until(
      "refusals logged",
      () =>
        a.lines.some((l) => /does not have our password/.test(l)) &&
        b.lines.some((l) => /does not have our password/.test(l)) &&
        a.lines.some((l) => /has no password but this peer requires one/.test(l)) &&
        c.lines.some((l) => /uses a password but none is set on this peer/.test(l)),
    );
    for (const n of [a, d]) {
      const names = n.mesh.peers().map((p) => p.name);
      assert.ok(!names.includes(b.mesh.self) && !names.includes(c.mesh.self));
    }
    assert.equal(b.mesh.peers().length, 1, "b never saw the topology");
    const failed = b.mesh.status().connections.find((x) => x.address === a.addr)!;
    assert.equal(failed.state, "failed");
    for (const n of [a, b, c, d]) {
      assert.ok(n.lines.every((l) => !/right|wrong/.test(l)), "no password in logs");
    }
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: both ends of a connection hold the same data key, new for every connection", async () => {
  try {
    const a = node(1, { password: "pw" });
    const b = node(2, { password: "pw", peers: [a.addr] });
    const c = node(3, { password: "pw", peers: [a.addr] });
    const wrong = node(4, { password: "other", peers: [a.addr] });
    let seen: Uint8Array | undefined;
    const off = a.mesh.onChange(() => (seen = a.mesh.dataKey(b.mesh.self)?.id));
    await until("full mesh", () => fullMesh([a, b, c]));
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
    await until("b's key gone at a", () => a.mesh.dataKey(b.mesh.self) === undefined);
    assert.equal(seen, undefined);
    const b2 = node(2, { password: "pw", peers: [a.addr] });
    await until("b2 connected", () => a.mesh.dataKey(b2.mesh.self) !== undefined);
    const ab2 = a.mesh.dataKey(b2.mesh.self)!;
    await until("a's subscriber saw the new key", () => seen !== undefined);
    assert.deepEqual(seen, ab2.id);
    assert.notDeepEqual(ab2.id, ab.id);
    assert.notDeepEqual(ab2.secret, ab.secret);
    assert.deepEqual(b2.mesh.dataKey(a.mesh.self), ab2);
    off();
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: without a password there is no data key", async () => {
  try {
    const a = node(1), b = node(2, { peers: [a.addr] });
    await until("connected", () => fullMesh([a, b]));
    assert.equal(a.mesh.dataKey(b.mesh.self), undefined);
    assert.equal(b.mesh.dataKey(a.mesh.self), undefined);
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: gossip channels broadcast to all and unicast hop by hop over a line", async () => {
  try {
    // a - b - c: the ends may hold one connection each, so a and c are not neighbours.
    const a = node(1, { connLimit: 1 }), b = node(2, { peers: [a.addr] });
    const c = node(3, { connLimit: 1, peers: [b.addr] });
    await until(
      "line",
      () =>
        a.mesh.peers().every((p) => p.reachable) && a.mesh.peers().length === 3 &&
        c.mesh.peers().every((p) => p.reachable) && c.mesh.peers().length === 3,
    );
    assert.equal(a.mesh.store.unicastNextHop(c.mesh.self), b.mesh.self);
    const got = new Map<string, string[]>();
    const chans = [a, b, c].map((n) => {
      const state = new Set<string>();
      return n.mesh.channel("test", {
        fullState: () => new TextEncoder().encode([...state].join(",")),
        onGossip: (_f, d) => {
          const news = new TextDecoder().decode(d).split(",").filter((x) => x && !state.has(x));
          news.forEach((x) => state.add(x));
          got.set(n.mesh.self, [...state].sort());
          return news.length ? new TextEncoder().encode(news.join(",")) : null;
        },
        onUnicast: (from: PeerName, d) =>
          got.set(`unicast@${n.mesh.self}`, [from, new TextDecoder().decode(d)]),
      });
    });
    chans[0].broadcast(new TextEncoder().encode("x"));
    await until("broadcast reached c", () => got.get(c.mesh.self)?.includes("x") ?? false);
    assert.ok(chans[2].unicast(a.mesh.self, new TextEncoder().encode("hi")));
    await until("unicast reached a", () => got.has(`unicast@${a.mesh.self}`));
    assert.deepEqual(got.get(`unicast@${a.mesh.self}`), [c.mesh.self, "hi"]);
    assert.equal(chans[0].unicast("02:00:00:00:00:99", new Uint8Array()), false);
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: MeshView routes follow the topology: next hops and broadcast children over a line", async () => {
  try {
    const a = node(1, { connLimit: 1 }), b = node(2, { peers: [a.addr] });
    const c = node(3, { connLimit: 1, peers: [b.addr] });
    const [na, nb, nc] = [a, b, c].map((n) => n.mesh.self);
    const changes: number[] = [0];
    a.mesh.onChange(() => changes[0]++);
    await until("line", () => a.mesh.nextHop(nc) !== undefined && c.mesh.nextHop(na) !== undefined);
    assert.equal(a.mesh.nextHop(nc), nb, "a reaches c through b");
    assert.equal(a.mesh.nextHop(nb), nb, "a neighbour is its own next hop");
    assert.equal(a.mesh.nextHop("02:00:00:00:00:99"), undefined);
    assert.deepEqual(a.mesh.broadcastChildren(na), [nb], "own broadcasts go to every neighbour");
    assert.deepEqual(b.mesh.broadcastChildren(na), [nc], "b relays a's broadcasts to c");
    assert.deepEqual(b.mesh.broadcastChildren(nc), [na]);
    assert.deepEqual(c.mesh.broadcastChildren(na), [], "c is a leaf of a's tree");
    assert.deepEqual(a.mesh.broadcastChildren("02:00:00:00:00:99"), [], "unknown origin");
    assert.ok(changes[0] > 0, "onChange told a about the topology changes");
    // b goes away: the routes through it go with it (a and c may then dial each other directly).
    await b.mesh.stop();
    await until("a's route to c no longer through b", () => a.mesh.nextHop(nc) !== nb);
    assert.ok(!a.mesh.broadcastChildren(na).includes(nb));
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: a line coming up at once converges without anti-entropy (topology and channels)", async () => {
  const enc = new TextEncoder(), dec = new TextDecoder();
  for (let trial = 0; trial < 3; trial++) {
    try {
      const states: Set<string>[] = [];
      const timing = { ...FAST, antiEntropyMs: 600_000 };
      const mk = (i: number, opts: Partial<MeshConfig>) => {
        const n = node(i, { timing, ...opts });
        const st = new Set([`r${i}`]);
        states.push(st);
        // Each peer announces itself before it has a connection (the data plane does so).
        n.mesh.channel("test", {
          fullState: () => enc.encode([...st].join(",")),
          onGossip: (_f, d) => {
            const news = dec.decode(d).split(",").filter((x) => x && !st.has(x));
            news.forEach((x) => st.add(x));
            return news.length ? enc.encode(news.join(",")) : null;
          },
          onUnicast: () => {},
        }).broadcast(enc.encode(`r${i}`));
        return n;
      };
      const b = mk(2, {});
      const a = mk(1, { connLimit: 1, peers: [b.addr] });
      const c = mk(3, { connLimit: 1, peers: [b.addr] });
      await until(
        "every peer knows every peer and every channel entry",
        () =>
          [a, b, c].every((n) => n.mesh.peers().length === 3) &&
          states.every((st) => st.size === 3),
        3_000,
      );
    } finally {
      await stopAll();
    }
  }
});

Deno.test("mesh: garbage on the control port closes that connection only", async () => {
  try {
    const a = node(1), b = node(2, { peers: [a.addr] });
    await until("connected", () => fullMesh([a, b]));
    for (let i = 0; i < 20; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
      const junk = crypto.getRandomValues(new Uint8Array(64));
      if (i % 2) junk.set(new TextEncoder().encode("weavets\x01\x01\x00"));
      await conn.write(junk).catch(() => {});
      await conn.read(new Uint8Array(100)).catch(() => null);
      conn.close();
    }
    assert.ok(fullMesh([a, b]));
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: peer addresses parse with a default port and bad ones are named", () => {
  assert.deepEqual(parsePeerAddress("10.0.0.1", 6783), { host: "10.0.0.1", port: 6783 });
  assert.deepEqual(parsePeerAddress("node-2:7000", 6783), { host: "node-2", port: 7000 });
  assert.throws(
    () => parsePeerAddress("10.0.0.1:99999", 6783),
    /invalid peer address "10.0.0.1:99999"/,
  );
  assert.throws(() => parsePeerAddress("a b", 6783), /invalid peer address/);
});

Deno.test("mesh: a peer that goes silent after the handshake is declared dead", async () => {
  try {
    const a = node(1);
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
    const silent = await ControlConnection.handshake(tcp, true, {
      self: { name: "02:00:00:00:00:09", nickname: "silent", uid: "0000000000000009", port: 1 },
      password: null,
      timing: FAST,
    });
    // Never started: it sends no heartbeats and reads nothing.
    await until("connected", () => a.mesh.connectionCount() === 1);
    const ms = await until("declared dead", () => a.mesh.connectionCount() === 0, 3_000);
    assert.ok(ms >= FAST.deadMs * 0.8, `closed after ${ms} ms, before the dead time`);
    assert.ok(a.lines.some((l) => /connection dead/.test(l)));
    silent.close("test done");
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: idle unauthenticated sockets are capped and never disturb established peers", async () => {
  const idle: Deno.TcpConn[] = [];
  try {
    const a = node(1), b = node(2, { peers: [a.addr] });
    await until("connected", () => fullMesh([a, b]));
    for (let i = 0; i < MAX_INBOUND_HANDSHAKES; i++) {
      idle.push(await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port }));
    }
    await new Promise((r) => setTimeout(r, 200)); // let the accept loop take them all
    const extra = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
    idle.push(extra);
    // Refused before the handshake: closed at once, nothing sent.
    assert.equal(await extra.read(new Uint8Array(64)).catch(() => null), null);
    await until(
      "refusal logged",
      () => a.lines.some((l) => /too many handshakes in progress/.test(l)),
    );
    assert.ok(fullMesh([a, b]));
  } finally {
    for (const c of idle) {
      try {
        c.close();
      } catch {
        // closed by the peer
      }
    }
    await stopAll();
  }
});

Deno.test("mesh: a configured peer that was down is joined when it comes up, not after the backoff", async () => {
  try {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const bPort = probe.addr.port;
    probe.close();
    const slow = { ...FAST, backoff: { baseMs: 3_000, capMs: 3_000, jitter: 0 } };
    const c = node(3);
    const a = node(1, { peers: [c.addr, `127.0.0.1:${bPort}`], timing: slow });
    await until(
      "a refused by the absent b",
      () => a.mesh.status().connections.some((x) => x.state === "retrying"),
    );
    await new Promise((r) => setTimeout(r, slow.backoff.baseMs / 2));
    const b = node(2, { port: bPort, peers: [c.addr] });
    const ms = await until("full mesh", () => fullMesh([a, b, c]), 2_000);
    assert.ok(ms < 1_400, `a reached b after ${ms} ms, not by its backoff`);
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: targets set at run time are dialled, and dropped ones no longer retried", async () => {
  try {
    const a = node(1), b = node(2), c = node(3);
    a.mesh.setTargets([b.addr]);
    await until("a-b", () => fullMesh([a, b]));
    assert.deepEqual(a.mesh.status().targets, [b.addr]);
    a.mesh.setTargets([c.addr, "127.0.0.1:1"]);
    await until("full mesh", () => fullMesh([a, b, c]));
    assert.deepEqual(a.mesh.status().targets.sort(), ["127.0.0.1:1", c.addr].sort());
    assert.equal(a.mesh.connectionCount(), 2, "dropping a target keeps its connection");
    a.mesh.setTargets([]);
    assert.deepEqual(a.mesh.status().targets, []);
    assert.ok(!a.mesh.status().connections.some((x) => x.address === "127.0.0.1:1"));
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: a failing component (listener, channel state) is logged and the mesh carries on", async () => {
  try {
    const a = node(1);
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
    const b = node(2, { peers: [a.addr] });
    await until("connected", () => fullMesh([a, b]));
    await until(
      "both logged",
      () =>
        a.lines.some((l) => /listener boom/.test(l)) && a.lines.some((l) => /state boom/.test(l)),
    );
  } finally {
    await stopAll();
  }
});
