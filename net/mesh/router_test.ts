import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { type ConnectionOptions, ControlConnection } from "./connection.ts";
import { derivePsk } from "./crypto.ts";
import { SigningKey } from "./signing.ts";
import type { PeerName } from "./gossip_channel.ts";
import { Mesh, type MeshConfig } from "./router.ts";
import { encodeMessage, Tag } from "./codec.ts";
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

// A peer keeps its signing key across restarts (the daemon persists it), as these keys do.
const keyring = new TestKeyring();

function node(i: number, opts: Partial<MeshConfig> = {}): Node {
  const lines: string[] = [];
  const name = `02:00:00:00:00:0${i}`;
  const mesh = new Mesh({
    name,
    signingKey: keyring.key(name),
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

/** Options for a hand-driven client connection (an attacker, or a peer that misbehaves). */
function client(i: number, secret: string | null): ConnectionOptions {
  return {
    self: { name: `02:00:00:00:00:0${i}`, nickname: `c${i}`, uid: `000000000000000${i}`, port: 1 },
    signingKey: SigningKey.generate(),
    psk: derivePsk(secret),
    authenticated: secret !== null,
    timing: FAST,
  };
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
    await until("full mesh", () => fullMesh([a, b, c]));
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
    await until(
      "full mesh, duplicates resolved",
      () => fullMesh([a, b, a2, b2]) && [a, b, a2, b2].every((n) => n.mesh.connectionCount() === 3),
    );
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
    await until(
      "c unreachable at a and b",
      () =>
        [a, b].every((n) =>
          n.mesh.peers().find((p) => p.name === c.mesh.self)?.reachable === false
        ),
    );
    await until(
      "c forgotten",
      () => [a, b].every((n) => !n.mesh.peers().some((p) => p.name === c.mesh.self)),
      15_000,
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
    const a = node(1, { password: "pw-right-7f3a" });
    const b = node(2, { password: "pw-wrong-91c2", peers: [a.addr] });
    const c = node(3, { password: null, peers: [a.addr] });
    const d = node(4, { password: "pw-right-7f3a", peers: [a.addr] });
    await until("d joins a", () => fullMesh([a, d]));
    await until(
      "refusals logged",
      () =>
        (a.mesh.counters.refusals.get("auth-failed") ?? 0) >= 3 &&
        b.lines.some((l) => /wrong password or cluster secret/.test(l)) &&
        c.lines.some((l) => /uses a password or cluster secret but none is set/.test(l)),
    );
    // Every refusal is counted; the log has one line per source and kind per 10 s (L7).
    const logged = a.lines.filter((l) => /"kind":"auth-failed"/.test(l));
    assert.equal(logged.length, 1, logged.join("\n"));
    assert.match(logged[0], /does not have our password|has no password or cluster secret/);
    for (const n of [a, d]) {
      const names = n.mesh.peers().map((p) => p.name);
      assert.ok(!names.includes(b.mesh.self) && !names.includes(c.mesh.self));
    }
    assert.equal(b.mesh.peers().length, 1, "b never saw the topology");
    // Between its retries, b shows the target failed, with why.
    await until(
      "b's target failed",
      () => b.mesh.status().connections.find((x) => x.address === a.addr)?.state === "failed",
    );
    for (const n of [a, b, c, d]) {
      assert.ok(n.lines.every((l) => !/pw-right|pw-wrong/.test(l)), "no password in logs");
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
    // Subscribers are told in a task of their own, soon after (change_notifier.ts).
    await until("a's subscriber told", () => seen === undefined, 1_000);
    const b2 = node(2, { password: "pw", peers: [a.addr] });
    const same = (x?: Uint8Array, y?: Uint8Array) =>
      x !== undefined && y !== undefined && x.length === y.length && x.every((v, i) => v === y[i]);
    // A duplicate connection resolved on the way may replace the first key: wait for the one kept.
    await until(
      "b2 connected, both ends and a's subscriber on the same key",
      () =>
        fullMesh([a, b2, c]) && same(seen, a.mesh.dataKey(b2.mesh.self)?.id) &&
        same(b2.mesh.dataKey(a.mesh.self)?.secret, a.mesh.dataKey(b2.mesh.self)?.secret),
      15_000,
    );
    const ab2 = a.mesh.dataKey(b2.mesh.self)!;
    assert.notDeepEqual(ab2.id, ab.id);
    assert.notDeepEqual(ab2.secret, ab.secret);
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

Deno.test("mesh: a peer that goes silent after the handshake is declared dead", async () => {
  try {
    const a = node(1);
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
    const silent = await ControlConnection.handshake(tcp, true, client(9, null));
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

/** Reads everything a socket receives until the peer closes it (or `ms` pass). */
async function drain(conn: Deno.TcpConn, ms: number): Promise<number> {
  let total = 0;
  const buf = new Uint8Array(4096);
  const deadline = setTimeout(() => conn.close(), ms);
  try {
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) return total;
      total += n;
    }
  } finally {
    clearTimeout(deadline);
  }
}

const V2_HELLO = (authenticated: boolean) => {
  const b = new Uint8Array(42);
  b.set(new TextEncoder().encode("weavets\x02\x02"));
  b[9] = authenticated ? 1 : 0;
  b.set(crypto.getRandomValues(new Uint8Array(32)), 10);
  return b;
};

Deno.test("mesh: a client that does not prove the secret first gets the hello and nothing sealed", async () => {
  try {
    const a = node(1, { password: "pw" });
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
    await tcp.write(V2_HELLO(true));
    // The server's hello is all it sends; it closes at the handshake deadline.
    assert.equal(await drain(tcp, 10_000), 42);
    assert.equal(a.mesh.counters.refusals.get("handshake-timeout"), 1);
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: a client with a wrong password is refused before the server seals anything", async () => {
  try {
    const a = node(1, { password: "right" });
    const opts = client(9, "wrong"); // scrypt first: the server's handshake deadline is short
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
    await assert.rejects(
      ControlConnection.handshake(tcp, true, opts),
      /closed the connection before identifying itself \(wrong password/,
    );
    await until("counted", () => a.mesh.counters.refusals.get("auth-failed") === 1);
    assert.ok(a.lines.some((l) => /authentication failed/.test(l)));
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: a peer of the previous protocol version is refused with a message to upgrade it", async () => {
  try {
    const a = node(1);
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
    await tcp.write(new TextEncoder().encode("weavets\x01\x01\x00"));
    assert.equal(await drain(tcp, 5_000), 42, "our hello, then closed");
    await until(
      "refusal logged",
      () => a.lines.some((l) => /older weavets .*upgrade it to this release/.test(l)),
    );
    assert.equal(a.mesh.counters.refusals.get("protocol-version"), 1);
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: stalled sockets: two per source address, closed at the hello deadline; then a peer joins", async () => {
  const idle: Deno.TcpConn[] = [];
  try {
    const a = node(1, { timing: { ...FAST, helloTimeoutMs: 1_000 } });
    for (let i = 0; i < 2; i++) {
      idle.push(await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port }));
      await idle[i].write(new TextEncoder().encode("wea")); // 3 bytes, then nothing
    }
    await until("both held", () => a.mesh.status().connections.length === 0 && true);
    const third = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
    assert.equal(await drain(third, 5_000), 0, "refused at once, nothing sent");
    await until(
      "per-source refusal counted",
      () => (a.mesh.counters.refusals.get("handshakes-per-source") ?? 0) >= 1,
    );
    // The stalled ones are closed at the hello deadline (1 s here), not the handshake's (5 s).
    for (const c of idle) assert.equal(await drain(c, 5_000), 42, "our hello only");
    await until(
      "hello timeouts counted",
      () => a.mesh.counters.refusals.get("handshake-timeout") === 2,
    );
    const b = node(2, { peers: [a.addr] });
    await until("a real peer joins", () => fullMesh([a, b]));
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: an unknown peer's frames are limited to 1 MiB; over it the connection is closed", async () => {
  try {
    const a = node(1, { password: "pw" }); // no targets: the client below is not known
    const opts = client(9, "pw");
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
    const c = await ControlConnection.handshake(tcp, true, opts);
    let closed = "";
    c.start({ onMessage: () => {}, onClose: (r) => (closed = r), known: () => true });
    await until("connected", () => a.mesh.connectionCount() === 1);
    c.send(encodeMessage({ tag: Tag.gossip, channel: "x", data: new Uint8Array(2 * 1024 * 1024) }));
    await until("closed", () => closed !== "");
    await until("counted", () => a.mesh.counters.refusals.get("frame-too-large") === 1);
    assert.equal(a.mesh.connectionCount(), 0);
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: a second key for a bound name is refused; the first peer keeps its connection", async () => {
  try {
    const a = node(1);
    const b = node(2, { peers: [a.addr] });
    await until("connected", () => fullMesh([a, b]));
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
    const impostor = {
      ...client(2, null),
      self: { ...client(2, null).self, uid: "00000000000000ee" },
    };
    const c = await ControlConnection.handshake(tcp, true, impostor);
    c.start({ onMessage: () => {}, onClose: () => {}, known: () => true });
    await until("refused", () => a.mesh.counters.refusals.get("key-refused") === 1);
    assert.ok(fullMesh([a, b]));
    assert.equal(a.mesh.status().peers.find((p) => p.name === b.mesh.self)?.uid, b.mesh.uid);
    c.close("done");
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: a cluster secret authenticates the control plane but gives no data key", async () => {
  try {
    const a = node(1, { clusterSecret: "cs" });
    const b = node(2, { clusterSecret: "cs", peers: [a.addr] });
    const stranger = node(3, { clusterSecret: "other", peers: [a.addr] });
    await until("connected", () => fullMesh([a, b]));
    await until("stranger refused", () => (a.mesh.counters.refusals.get("auth-failed") ?? 0) >= 1);
    assert.equal(a.mesh.dataKey(b.mesh.self), undefined);
    assert.equal(a.mesh.status().controlAuth, "cluster-secret");
    assert.equal(a.mesh.status().encryption, false);
    assert.equal(stranger.mesh.connectionCount(), 0);
  } finally {
    await stopAll();
  }
});

Deno.test("mesh: a frame trickled in, a byte at a time, is closed at its deadline (not kept alive)", async () => {
  try {
    const a = node(1);
    const opts = client(9, null);
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
    const c = await ControlConnection.handshake(tcp, true, opts);
    c.start({ onMessage: () => {}, onClose: () => {}, known: () => true });
    await until("connected", () => a.mesh.connectionCount() === 1);
    // A 64 KiB frame's length and a few bytes, then one byte every 200 ms: the silence timer
    // never fires, the frame's deadline (deadMs + its length at 1 MiB/s) does.
    const head = new Uint8Array(8);
    new DataView(head.buffer).setUint32(0, 64 * 1024);
    await c.conn.write(head);
    const t0 = Date.now();
    while (a.mesh.connectionCount() === 1 && Date.now() - t0 < 10_000) {
      await c.conn.write(new Uint8Array(1)).catch(() => {});
      await new Promise((r) => setTimeout(r, 200));
    }
    await until("counted", () => a.mesh.counters.refusals.get("frame-timeout") === 1);
    assert.ok(Date.now() - t0 >= FAST.deadMs, "not before the deadline");
    assert.ok(a.lines.some((l) => /did not complete in time/.test(l)));
    c.close("done");
  } finally {
    await stopAll();
  }
});
