import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeHello,
  encodeHello,
  Handshake,
  HandshakeError,
  type Hello,
  helloBytesNeeded,
  negotiateVersion,
} from "./handshake.ts";

const KEY = new Uint8Array(32).fill(7);
const hello = (o: Partial<Hello> = {}): Hello => ({
  minVersion: 2,
  maxVersion: 2,
  authenticated: true,
  publicKey: KEY,
  ...o,
});

Deno.test("handshake: the highest common version wins; disjoint ranges name the side to upgrade", () => {
  const h = (minVersion: number, maxVersion: number) => hello({ minVersion, maxVersion });
  assert.equal(negotiateVersion(h(1, 3), h(2, 5)), 3);
  assert.equal(negotiateVersion(h(2, 5), h(1, 3)), 3);
  assert.throws(() => negotiateVersion(h(2, 2), h(1, 1)), /older weavets .*upgrade it/);
  assert.throws(() => negotiateVersion(h(2, 2), h(3, 4)), /newer weavets .*upgrade this peer/);
  fc.assert(fc.property(fc.nat(9), fc.nat(9), fc.nat(9), fc.nat(9), (a, b, c, d) => {
    const x = h(Math.min(a, b), Math.max(a, b)), y = h(Math.min(c, d), Math.max(c, d));
    try {
      const v = negotiateVersion(x, y);
      assert.equal(v, negotiateVersion(y, x));
      assert.ok(v >= x.minVersion && v <= x.maxVersion && v >= y.minVersion && v <= y.maxVersion);
    } catch (e) {
      assert.ok(e instanceof HandshakeError && e.permanent);
      assert.ok(x.maxVersion < y.minVersion || y.maxVersion < x.minVersion);
    }
  }));
});

Deno.test("handshake: hellos round-trip, and a bad magic is refused from the first bytes", () => {
  for (const h of [hello(), hello({ authenticated: false })]) {
    const b = encodeHello(h);
    assert.equal(b.length, 42);
    assert.equal(helloBytesNeeded(b.subarray(0, 5)), 5);
    assert.equal(helloBytesNeeded(b.subarray(0, 20)), 22);
    assert.deepEqual(decodeHello(b), h);
  }
  assert.throws(() => helloBytesNeeded(new TextEncoder().encode("GET /")), /bad protocol magic/);
  const b = encodeHello(hello());
  b[9] = 0x80;
  assert.throws(() => helloBytesNeeded(b), /unknown handshake flags/);
});

Deno.test("handshake: a version 1 hello (with or without a key) is read, and refused by its version", () => {
  const v1 = (withKey: boolean) => {
    const b = new Uint8Array(10 + (withKey ? 32 : 0));
    b.set(new TextEncoder().encode("weavets\x01\x01"));
    b[9] = withKey ? 1 : 0;
    return b;
  };
  for (const withKey of [false, true]) {
    const b = v1(withKey);
    assert.equal(helloBytesNeeded(b.subarray(0, 10)), withKey ? 32 : 0);
    const s = new Handshake<string>(hello({ authenticated: withKey }), false).receiveHello(
      decodeHello(b),
    );
    assert.equal(s.state, "refused");
    assert.match((s as { reason: string }).reason, /older weavets .*upgrade it to this release/);
    assert.equal((s as { kind: string }).kind, "protocol-version");
  }
});

Deno.test("handshake: the client sends its identity first; the server only after the client's", () => {
  const client = new Handshake<string>(hello(), true);
  assert.deepEqual(client.receiveHello(hello()), {
    state: "await-identity",
    version: 2,
    remoteKey: KEY,
    send: true,
  });
  assert.deepEqual(client.receiveIdentity("server"), {
    state: "established",
    version: 2,
    identity: "server",
    send: false,
  });
  const server = new Handshake<string>(hello(), false);
  assert.equal((server.receiveHello(hello()) as { send: boolean }).send, false);
  assert.equal((server.receiveIdentity("client") as { send: boolean }).send, true);
});

Deno.test("handshake: a secret on one side only is refused, with the reason for each side", () => {
  const s1 = new Handshake<string>(hello(), true).receiveHello(hello({ authenticated: false }));
  assert.match(
    (s1 as { reason: string }).reason,
    /no password or cluster secret but this peer requires/,
  );
  const s2 = new Handshake<string>(hello({ authenticated: false }), true).receiveHello(hello());
  assert.match(
    (s2 as { reason: string }).reason,
    /uses a password or cluster secret but none is set/,
  );
});

Deno.test("handshake: steps out of order refuse, and refusal is final", () => {
  const hs = new Handshake<string>(hello(), true);
  assert.equal(hs.receiveIdentity("x").state, "refused");
  assert.equal(hs.receiveHello(hello()).state, "refused");
});
