/**
 * What a broken or hostile client gets from the mesh's control port, over real loopback sockets:
 * the bytes it is sent, when the server closes, what is counted and logged, and that the peers
 * the mesh knows keep their connections. The limits and deadlines themselves are decided and
 * tested on a fake clock beside their modules (admission_test: handshake slots; liveness_test:
 * dead time and frame deadlines; handshake_test: the hello and the secret's proof). Every wait is
 * for an event (testing/loopback.ts); where a deadline matters, the other deadline it could be
 * confused with is set far beyond the wait, so the test fails if the wrong one applied.
 */
import assert from "node:assert/strict";
import { ControlConnection } from "./connection.ts";
import { encodeMessage, Tag } from "./codec.ts";
import {
  client,
  drain,
  fullMesh,
  Loopback,
  LOOPBACK_TIMING,
  readExactly,
} from "./testing/loopback.ts";

const enc = new TextEncoder();

Deno.test("mesh: a silent peer is closed as dead; a peer sending heartbeats, connected longer, is not", async () => {
  const t = new Loopback();
  try {
    // No anti-entropy: between a and b, only heartbeats and a's topology changes flow. The dead
    // time is 15 heartbeats: only an event loop stalled for seconds could kill a-b.
    const timing = { ...LOOPBACK_TIMING, antiEntropyMs: 600_000, deadMs: 3_000 };
    const a = t.node(1, { timing }), b = t.node(2, { timing, peers: [a.addr] });
    await t.until("a-b", () => fullMesh([a, b]));
    // Two silent peers, one after the other: the second is declared dead more than deadMs after
    // a-b last carried anything but heartbeats (neither end's own entry changes meanwhile).
    for (const i of [9, 8]) {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
      const silent = await ControlConnection.handshake(tcp, true, client(i, null));
      // Never started: it sends no heartbeats and reads nothing. The wait is for the outcome,
      // not for the connection first, so no step here races the dead time.
      const silentLine = (what: RegExp) =>
        a.lines.some((l) => what.test(l) && l.includes(`"peer":"02:00:00:00:00:0${i}"`));
      await t.until(
        `silent peer ${i} declared dead`,
        () => a.mesh.connectionCount() === 1 && silentLine(/connection dead/),
      );
      assert.ok(silentLine(/connection established/), "it was admitted first");
      silent.close("test done");
    }
    // Negative control: a-b, older than both, lived on heartbeats alone (without them it fails).
    // (Not fullMesh: b may not have a's entry without the silent peers yet.)
    assert.equal(a.mesh.counters.terminations, 2, "at a, only the silent connections closed");
    assert.equal(b.mesh.counters.terminations, 0, "b's connection to a never closed");
    assert.equal(b.mesh.connectionCount(), 1);
  } finally {
    await t.stop();
  }
});

const V2_HELLO = (authenticated: boolean) => {
  const b = new Uint8Array(42);
  b.set(enc.encode("weavets\x02\x02"));
  b[9] = authenticated ? 1 : 0;
  b.set(crypto.getRandomValues(new Uint8Array(32)), 10);
  return b;
};

Deno.test("mesh: garbage on the control port closes that connection only", async () => {
  const t = new Loopback();
  try {
    const a = t.node(1), b = t.node(2, { peers: [a.addr] });
    await t.until("connected", () => fullMesh([a, b]));
    for (let i = 0; i < 20; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
      const junk = crypto.getRandomValues(new Uint8Array(64));
      if (i % 2) junk.set(enc.encode("weavets\x01\x01\x00")); // an old hello, then garbage
      await conn.write(junk).catch(() => {});
      assert.equal((await drain(conn)).closedByPeer, true, `socket ${i} closed by the server`);
    }
    assert.ok(fullMesh([a, b]));
    assert.equal(a.mesh.counters.terminations, 0);
  } finally {
    await t.stop();
  }
});

Deno.test("mesh: a client that does not prove the secret gets the hello, nothing sealed, and is closed at the handshake deadline", async () => {
  const t = new Loopback();
  try {
    const timing = { ...LOOPBACK_TIMING, helloTimeoutMs: 1_000, handshakeTimeoutMs: 2_000 };
    const a = t.node(1, { password: "pw", timing });
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
    await tcp.write(V2_HELLO(true));
    assert.deepEqual(await drain(tcp), { bytes: 42, closedByPeer: true }, "our hello only");
    await t.until("counted", () => a.mesh.counters.refusals.get("handshake-timeout") === 1);
    assert.ok(a.lines.some((l) => /handshake not done within 2000 ms/.test(l)));
  } finally {
    await t.stop();
  }
});

Deno.test("mesh: a client with a wrong password is refused before the server seals anything", async () => {
  const t = new Loopback();
  try {
    const a = t.node(1, { password: "right" });
    const opts = client(9, "wrong"); // scrypt first: the server's handshake deadline is short
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
    await assert.rejects(
      ControlConnection.handshake(tcp, true, opts),
      /closed the connection before identifying itself \(wrong password/,
    );
    await t.until("counted", () => a.mesh.counters.refusals.get("auth-failed") === 1);
    assert.ok(a.lines.some((l) => /authentication failed/.test(l)));
  } finally {
    await t.stop();
  }
});

Deno.test("mesh: a peer of the previous protocol version is refused with a message to upgrade it", async () => {
  const t = new Loopback();
  try {
    const a = t.node(1);
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
    await tcp.write(enc.encode("weavets\x01\x01\x00"));
    assert.deepEqual(await drain(tcp), { bytes: 42, closedByPeer: true }, "our hello, then closed");
    await t.until(
      "refusal logged",
      () => a.lines.some((l) => /older weavets .*upgrade it to this release/.test(l)),
    );
    assert.equal(a.mesh.counters.refusals.get("protocol-version"), 1);
  } finally {
    await t.stop();
  }
});

Deno.test("mesh: stalled sockets: two per source address, closed at the hello deadline; then a peer joins", async () => {
  const t = new Loopback();
  const idle: Deno.TcpConn[] = [];
  try {
    // The handshake deadline is far beyond the wait: a close before it is the hello deadline's.
    const timing = { ...LOOPBACK_TIMING, helloTimeoutMs: 1_000, handshakeTimeoutMs: 120_000 };
    const a = t.node(1, { timing });
    for (let i = 0; i < 2; i++) {
      idle.push(await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port }));
      await idle[i].write(enc.encode("wea")); // 3 bytes, then nothing
      await readExactly(idle[i], 42); // the server's hello: it holds this socket in a handshake
    }
    const third = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
    assert.deepEqual(await drain(third), { bytes: 0, closedByPeer: true }, "refused at once");
    await t.until(
      "per-source refusal counted",
      () => (a.mesh.counters.refusals.get("handshakes-per-source") ?? 0) >= 1,
    );
    for (const c of idle.splice(0)) {
      assert.deepEqual(await drain(c), { bytes: 0, closedByPeer: true }, "nothing after the hello");
    }
    await t.until(
      "hello timeouts counted",
      () => a.mesh.counters.refusals.get("handshake-timeout") === 2,
    );
    assert.ok(a.lines.some((l) => /no hello within 1000 ms/.test(l)));
    const b = t.node(2, { peers: [a.addr] });
    await t.until("a real peer joins", () => fullMesh([a, b]));
  } finally {
    for (const c of idle) c.close();
    await t.stop();
  }
});

Deno.test("mesh: an unknown peer's frames are limited to 1 MiB; over it the connection is closed", async () => {
  const t = new Loopback();
  try {
    const a = t.node(1, { password: "pw" }); // no targets: the client below is not known
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
    const c = await ControlConnection.handshake(tcp, true, client(9, "pw"));
    let closed = "";
    c.start({ onMessage: () => {}, onClose: (r) => (closed = r), known: () => true });
    await t.until("connected", () => a.mesh.connectionCount() === 1);
    // Negative control: a frame under the limit is taken.
    c.send(encodeMessage({ tag: Tag.gossip, channel: "x", data: new Uint8Array(512 * 1024) }));
    c.send(encodeMessage({ tag: Tag.gossip, channel: "x", data: new Uint8Array(2 * 1024 * 1024) }));
    await t.until("closed", () => closed !== "" && a.mesh.connectionCount() === 0);
    await t.until("counted", () => a.mesh.counters.refusals.get("frame-too-large") === 1);
  } finally {
    await t.stop();
  }
});

Deno.test("mesh: a second key for a bound name is refused; the first peer keeps its connection", async () => {
  const t = new Loopback();
  try {
    const a = t.node(1);
    const b = t.node(2, { peers: [a.addr] });
    await t.until("connected", () => fullMesh([a, b]));
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
    const impostor = {
      ...client(2, null),
      self: { ...client(2, null).self, uid: "00000000000000ee" },
    };
    const c = await ControlConnection.handshake(tcp, true, impostor);
    c.start({ onMessage: () => {}, onClose: () => {}, known: () => true });
    await t.until("refused", () => a.mesh.counters.refusals.get("key-refused") === 1);
    assert.ok(fullMesh([a, b]));
    assert.equal(a.mesh.status().peers.find((p) => p.name === b.mesh.self)?.uid, b.mesh.uid);
    c.close("done");
  } finally {
    await t.stop();
  }
});

Deno.test("mesh: a frame trickled in, a byte at a time, is closed at its deadline (not kept alive)", async () => {
  const t = new Loopback();
  try {
    const a = t.node(1);
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: a.mesh.port });
    const c = await ControlConnection.handshake(tcp, true, client(9, null));
    c.start({ onMessage: () => {}, onClose: () => {}, known: () => true });
    await t.until("connected", () => a.mesh.connectionCount() === 1);
    // A 64 KiB frame's length, then one byte every 200 ms: the connection is never silent for
    // deadMs, so only the frame's own deadline (liveness_test) can close it.
    const head = new Uint8Array(8);
    new DataView(head.buffer).setUint32(0, 64 * 1024);
    await c.conn.write(head);
    let writing = true;
    const trickle = (async () => {
      while (writing && a.mesh.connectionCount() === 1) {
        await c.conn.write(new Uint8Array(1)).catch(() => (writing = false));
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    try {
      await t.until("counted", () => a.mesh.counters.refusals.get("frame-timeout") === 1);
    } finally {
      writing = false;
      await trickle;
    }
    assert.ok(a.lines.some((l) => /did not complete in time/.test(l)));
    assert.ok(!a.lines.some((l) => /connection dead/.test(l)), "not closed for silence");
    c.close("done");
  } finally {
    await t.stop();
  }
});
