import assert from "node:assert/strict";
import {
  CryptoError,
  derivePsk,
  deriveSession,
  generateKeyPair,
  MAX_MESSAGES_PER_KEY,
  Opener,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_MS,
  Sealer,
  transcriptHash,
} from "./crypto.ts";

const msg = (s: string) => new TextEncoder().encode(s);
const TH = transcriptHash(msg("client hello"), msg("server hello"));
const psk = derivePsk("s3cret");

function pair(pskA = psk, pskB = psk, thA = TH, thB = TH) {
  const a = generateKeyPair(), b = generateKeyPair();
  return {
    client: deriveSession(a, b.publicKey, pskA, thA, true, 0),
    server: deriveSession(b, a.publicKey, pskB, thB, false, 0),
  };
}

Deno.test("crypto: both sides derive matching per-direction keys from the same secret", () => {
  const { client, server } = pair();
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(server.opener.open(client.sealer.seal(msg(`a${i}`))), msg(`a${i}`));
    assert.deepEqual(client.opener.open(server.sealer.seal(msg(`b${i}`))), msg(`b${i}`));
  }
  // Directions use different keys: a message cannot be reflected back to its sender.
  assert.throws(() => client.opener.open(client.sealer.seal(msg("x"))), CryptoError);
  assert.deepEqual(client.dataKey, server.dataKey);
});

Deno.test("crypto: a wrong secret, or a different transcript (a changed hello), fails the first frame", () => {
  const wrong = pair(psk, derivePsk("wrong"));
  assert.throws(
    () => wrong.server.opener.open(wrong.client.sealer.seal(msg("hi"))),
    /failed authentication/,
  );
  const tampered = pair(psk, psk, TH, transcriptHash(msg("client hello"), msg("server hellO")));
  assert.throws(
    () => tampered.server.opener.open(tampered.client.sealer.seal(msg("hi"))),
    CryptoError,
  );
  assert.notDeepEqual(tampered.client.dataKey, tampered.server.dataKey);
});

Deno.test("crypto: the secret is stretched once (scrypt) and remembered; none gives zeros", () => {
  const first = derivePsk("remembered");
  assert.equal(derivePsk("remembered"), first, "the same object: no second scrypt");
  assert.notDeepEqual(derivePsk("other"), first);
  assert.deepEqual(derivePsk(null), new Uint8Array(32));
});

Deno.test("crypto: tampering, replay and reordering are detected", () => {
  const { client, server } = pair();
  const m1 = client.sealer.seal(msg("one")), m2 = client.sealer.seal(msg("two"));
  const bad = m1.slice();
  bad[0] ^= 1;
  assert.throws(() => server.opener.open(bad), CryptoError);
  assert.throws(() => server.opener.open(m2), CryptoError, "out of order");
  server.opener.open(m1);
  assert.throws(() => server.opener.open(m1), CryptoError, "replayed");
  assert.deepEqual(server.opener.open(m2), msg("two"));
});

Deno.test("crypto: our own public key echoed back is refused", () => {
  const a = generateKeyPair();
  assert.throws(() => deriveSession(a, a.publicKey, psk, TH, true, 0), /our own public key/);
});

Deno.test("crypto: every connection has its own data key", () => {
  const x = pair(), y = pair();
  assert.equal(x.client.dataKey.id.length, 8);
  assert.equal(x.client.dataKey.secret.length, 32);
  assert.notDeepEqual(x.client.dataKey.id, y.client.dataKey.id);
  assert.notDeepEqual(x.client.dataKey.secret, y.client.dataKey.secret);
});

Deno.test("crypto: rekeying by count and time; both ends ratchet the same way", () => {
  const key = new Uint8Array(32).fill(9);
  const s = new Sealer(key, 1_000), o = new Opener(key);
  assert.equal(s.rekeyDue(1_000), false);
  assert.equal(s.rekeyDue(1_000 + REKEY_AFTER_MS), true, "by time");
  assert.deepEqual(o.open(s.seal(msg("before"))), msg("before"));
  s.rekey(2_000);
  assert.throws(() => o.open(s.seal(msg("x"))), CryptoError, "the old key no longer opens");
  const s2 = new Sealer(key, 0), o2 = new Opener(key);
  s2.rekey(0);
  o2.rekey();
  assert.deepEqual(o2.open(s2.seal(msg("after"))), msg("after"));
  assert.ok(REKEY_AFTER_MESSAGES < MAX_MESSAGES_PER_KEY);
});
