import assert from "node:assert/strict";
import { CryptoError, deriveSession, generateKeyPair } from "./crypto.ts";

const msg = (s: string) => new TextEncoder().encode(s);

Deno.test("crypto: both sides derive matching per-direction keys from the same password", () => {
  const a = generateKeyPair(), b = generateKeyPair();
  const sa = deriveSession(a, b.publicKey, "s3cret"), sb = deriveSession(b, a.publicKey, "s3cret");
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(sb.opener.open(sa.sealer.seal(msg(`a${i}`))), msg(`a${i}`));
    assert.deepEqual(sa.opener.open(sb.sealer.seal(msg(`b${i}`))), msg(`b${i}`));
  }
  // Directions use different keys: a message cannot be reflected back to its sender.
  assert.throws(() => sa.opener.open(sa.sealer.seal(msg("x"))), CryptoError);
});

Deno.test("crypto: a wrong password fails authentication on the first message", () => {
  const a = generateKeyPair(), b = generateKeyPair();
  const sa = deriveSession(a, b.publicKey, "right"), sb = deriveSession(b, a.publicKey, "wrong");
  assert.throws(() => sb.opener.open(sa.sealer.seal(msg("hello"))), /failed authentication/);
});

Deno.test("crypto: tampering, replay and reordering are detected", () => {
  const a = generateKeyPair(), b = generateKeyPair();
  const sa = deriveSession(a, b.publicKey, "pw"), sb = deriveSession(b, a.publicKey, "pw");
  const m1 = sa.sealer.seal(msg("one")), m2 = sa.sealer.seal(msg("two"));
  const bad = m1.slice();
  bad[0] ^= 1;
  assert.throws(() => sb.opener.open(bad), CryptoError);
  assert.throws(() => sb.opener.open(m2), CryptoError, "out of order");
  sb.opener.open(m1);
  assert.throws(() => sb.opener.open(m1), CryptoError, "replayed");
  assert.deepEqual(sb.opener.open(m2), msg("two"));
});

Deno.test("crypto: our own public key echoed back is refused", () => {
  const a = generateKeyPair();
  assert.throws(() => deriveSession(a, a.publicKey, "pw"), /our own public key/);
});

Deno.test("crypto: both ends derive the same data key; another exchange gives another", () => {
  const a = generateKeyPair(), b = generateKeyPair(), c = generateKeyPair();
  const ab = deriveSession(a, b.publicKey, "pw").dataKey;
  assert.deepEqual(deriveSession(b, a.publicKey, "pw").dataKey, ab);
  assert.equal(ab.id.length, 8);
  assert.equal(ab.secret.length, 32);
  const ac = deriveSession(a, c.publicKey, "pw").dataKey;
  assert.notDeepEqual(ac.id, ab.id);
  assert.notDeepEqual(ac.secret, ab.secret);
  // The id names the connection (public keys only); the secret also needs the password.
  const other = deriveSession(a, b.publicKey, "other").dataKey;
  assert.deepEqual(other.id, ab.id);
  assert.notDeepEqual(other.secret, ab.secret);
});
