import assert from "node:assert/strict";
import {
  publicKeyFromText,
  publicKeyToText,
  signedBytes,
  SigningKey,
  verifySignature,
} from "./signing.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s: string) => new Uint8Array(s.match(/../g)!.map((h) => parseInt(h, 16)));

Deno.test("signing: RFC 8032 test 1 public key from its seed", () => {
  const k = SigningKey.fromSeed(
    unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
  );
  assert.equal(
    hex(k.publicKey),
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  );
});

Deno.test("signing: the signed bytes are context, domain, NUL, payload (golden)", () => {
  assert.equal(
    hex(signedBytes("macs/record", Uint8Array.of(1, 2))),
    hex(new TextEncoder().encode("weavets-sig\0macs/record\0")) + "0102",
  );
  assert.throws(() => signedBytes("Bad Domain", new Uint8Array()));
  assert.throws(() => signedBytes("", new Uint8Array()));
});

Deno.test("signing: known-answer signature (Ed25519 is deterministic)", () => {
  const k = SigningKey.fromSeed(new Uint8Array(32).fill(7));
  const sig = k.sign("test/kat", new TextEncoder().encode("hello"));
  assert.equal(
    hex(sig),
    // Cross-checked with Python's cryptography (Ed25519PrivateKey.from_private_bytes(bytes([7]*32)).sign(b"weavets-sig\x00test/kat\x00hello")).
    "ef9f778b8ae1414fbf78c1fe59b72bdbd696a3bd15a3f2487db45230ea70090abe0978b311cb8c68fb3ca43120782c67c98793a9eef36ca08020b8e83fdd4304",
  );
});

Deno.test("signing: verify accepts the signer and refuses other keys, domains, payloads", () => {
  const a = SigningKey.generate(), b = SigningKey.generate();
  const payload = new TextEncoder().encode("record");
  const sig = a.sign("topology/entry", payload);
  assert.equal(verifySignature(a.publicKey, "topology/entry", payload, sig), true);
  assert.equal(verifySignature(b.publicKey, "topology/entry", payload, sig), false);
  assert.equal(verifySignature(a.publicKey, "macs/record", payload, sig), false);
  assert.equal(verifySignature(a.publicKey, "topology/entry", Uint8Array.of(1), sig), false);
  const bad = sig.slice();
  bad[0] ^= 1;
  assert.equal(verifySignature(a.publicKey, "topology/entry", payload, bad), false);
  assert.equal(verifySignature(new Uint8Array(32), "topology/entry", payload, sig), false);
  assert.equal(verifySignature(a.publicKey, "topology/entry", payload, sig.slice(1)), false);
});

Deno.test("signing: a key survives its seed, and public keys round-trip as text", () => {
  const a = SigningKey.generate();
  const again = SigningKey.fromSeed(a.seed());
  assert.deepEqual(again.publicKey, a.publicKey);
  const text = publicKeyToText(a.publicKey);
  assert.equal(text.length, 43);
  assert.deepEqual(publicKeyFromText(text), a.publicKey);
  assert.throws(() => publicKeyFromText("short"));
});
