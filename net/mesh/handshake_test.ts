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

Deno.test("handshake: the highest common version wins; disjoint ranges are refused", () => {
  const h = (minVersion: number, maxVersion: number): Hello => ({ minVersion, maxVersion });
  assert.equal(negotiateVersion(h(1, 3), h(2, 5)), 3);
  assert.equal(negotiateVersion(h(2, 5), h(1, 3)), 3);
  assert.equal(negotiateVersion(h(1, 1), h(1, 1)), 1);
  assert.throws(() => negotiateVersion(h(1, 2), h(3, 4)), /no common protocol version/);
  fc.assert(fc.property(fc.nat(9), fc.nat(9), fc.nat(9), fc.nat(9), (a, b, c, d) => {
    const x = h(Math.min(a, b), Math.max(a, b)), y = h(Math.min(c, d), Math.max(c, d));
    try {
      const v = negotiateVersion(x, y);
      assert.equal(v, negotiateVersion(y, x));
      assert.ok(v >= x.minVersion && v <= x.maxVersion && v >= y.minVersion && v <= y.maxVersion);
    } catch (e) {
      assert.ok(e instanceof HandshakeError);
      assert.ok(x.maxVersion < y.minVersion || y.maxVersion < x.minVersion);
    }
  }));
});

Deno.test("handshake: hellos round-trip, and a bad magic is refused from the first bytes", () => {
  for (
    const h of [{ minVersion: 1, maxVersion: 2 }, { minVersion: 1, maxVersion: 1, publicKey: KEY }]
  ) {
    const b = encodeHello(h);
    assert.equal(helloBytesNeeded(b.subarray(0, 5)), 5);
    assert.equal(helloBytesNeeded(b.subarray(0, 10)), b.length - 10);
    assert.deepEqual(decodeHello(b), h.publicKey ? h : { ...h, publicKey: undefined });
  }
  assert.throws(() => helloBytesNeeded(new TextEncoder().encode("GET /")), /bad protocol magic/);
  const b = encodeHello({ minVersion: 1, maxVersion: 1 });
  b[9] = 0x80;
  assert.throws(() => helloBytesNeeded(b), /unknown handshake flags/);
});

Deno.test("handshake: state machine — hello then identity establishes", () => {
  const hs = new Handshake<string>({ minVersion: 1, maxVersion: 2 });
  assert.equal(hs.step.state, "await-hello");
  assert.deepEqual(hs.receiveHello({ minVersion: 1, maxVersion: 1 }), {
    state: "await-identity",
    version: 1,
    remoteKey: undefined,
  });
  assert.deepEqual(hs.receiveIdentity("peer"), {
    state: "established",
    version: 1,
    identity: "peer",
  });
});

Deno.test("handshake: password on one side only is refused, with the reason for each side", () => {
  const withPw = new Handshake<string>({ minVersion: 1, maxVersion: 1, publicKey: KEY });
  const s1 = withPw.receiveHello({ minVersion: 1, maxVersion: 1 });
  assert.equal(s1.state, "refused");
  assert.match((s1 as { reason: string }).reason, /no password but this peer requires one/);
  const without = new Handshake<string>({ minVersion: 1, maxVersion: 1 });
  const s2 = without.receiveHello({ minVersion: 1, maxVersion: 1, publicKey: KEY });
  assert.match((s2 as { reason: string }).reason, /uses a password but none is set/);
});

Deno.test("handshake: steps out of order refuse, and refusal is final", () => {
  const hs = new Handshake<string>({ minVersion: 1, maxVersion: 1 });
  assert.equal(hs.receiveIdentity("x").state, "refused");
  assert.equal(hs.receiveHello({ minVersion: 1, maxVersion: 1 }).state, "refused");
});
