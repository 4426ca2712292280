import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type AeadBackend, loadLibcrypto } from "./aead_libcrypto.ts";
import { nodeCryptoBackend } from "./aead.ts";

const lib = loadLibcrypto();
const noLib = lib === null;
const backends: AeadBackend[] = lib ? [lib, nodeCryptoBackend] : [nodeCryptoBackend];

const hex = (s: string) =>
  new Uint8Array(s.replace(/\s+/g, "").match(/../g)!.map((b) => parseInt(b, 16)));
const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

// RFC 8439 §2.8.2: the AEAD_CHACHA20_POLY1305 example.
const rfc = {
  key: hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"),
  nonce: hex("070000004041424344454647"),
  aad: hex("50515253c0c1c2c3c4c5c6c7"),
  plain: new TextEncoder().encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  ),
  cipher: hex(`
    d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
    3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
    92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
    3ff4def08e4b7a9de576d26586cec64b6116`),
  tag: hex("1ae10b594f09e26a7e902ecbd0600691"),
};

for (const b of backends) {
  Deno.test(`${b.name}: RFC 8439 §2.8.2 test vector seals and opens`, () => {
    const parts = b.seal(rfc.key, rfc.nonce, rfc.aad, [
      rfc.plain.subarray(0, 33),
      rfc.plain.subarray(33),
    ]);
    assert.deepEqual(Uint8Array.from(parts.at(-1)!), rfc.tag, "the last piece is the tag");
    assert.deepEqual(concat(parts.slice(0, -1)), rfc.cipher);
    const sealed = concat([rfc.cipher, rfc.tag]);
    assert.deepEqual(b.open(rfc.key, rfc.nonce, rfc.aad, sealed), rfc.plain);
  });

  Deno.test(`${b.name}: forged tag, flipped ciphertext, other AAD, nonce or key, truncation → null`, () => {
    const sealed = concat([rfc.cipher, rfc.tag]);
    const flip = (u: Uint8Array, i: number) => {
      const c = u.slice();
      c[i] ^= 1;
      return c;
    };
    assert.equal(b.open(rfc.key, rfc.nonce, rfc.aad, flip(sealed, sealed.length - 1)), null);
    assert.equal(b.open(rfc.key, rfc.nonce, rfc.aad, flip(sealed, 0)), null);
    assert.equal(b.open(rfc.key, rfc.nonce, flip(rfc.aad, 5), sealed), null);
    assert.equal(b.open(rfc.key, flip(rfc.nonce, 11), rfc.aad, sealed), null);
    assert.equal(b.open(flip(rfc.key, 0), rfc.nonce, rfc.aad, sealed), null);
    assert.equal(b.open(rfc.key, rfc.nonce, rfc.aad, sealed.subarray(0, sealed.length - 1)), null);
    assert.equal(b.open(rfc.key, rfc.nonce, rfc.aad, sealed.subarray(1)), null);
    // A failure leaves nothing behind: the same context opens the genuine message afterwards.
    assert.deepEqual(b.open(rfc.key, rfc.nonce, rfc.aad, sealed), rfc.plain);
  });
}

Deno.test({
  name: "libcrypto: contexts are per key, and messages larger than the scratch buffer work",
  ignore: noLib,
  fn() {
    const k1 = new Uint8Array(32).fill(1);
    const k2 = new Uint8Array(32).fill(2);
    const nonce = new Uint8Array(12);
    const aad = new Uint8Array(24);
    const big = new Uint8Array(300_000).map((_, i) => i * 7);
    for (const [k, other] of [[k1, k2], [k2, k1], [k1, k2]]) {
      const sealed = concat(lib!.seal(k, nonce, aad, [big]));
      assert.deepEqual(sealed, concat(nodeCryptoBackend.seal(k, nonce, aad, [big])));
      assert.equal(lib!.open(other, nonce, aad, sealed), null);
      assert.deepEqual(lib!.open(k, nonce, aad, sealed), big);
    }
  },
});

Deno.test("a library that does not load gives no backend", () => {
  assert.equal(loadLibcrypto("libweavets-no-such-crypto.so.3"), null);
  assert.equal(loadLibcrypto("libc.so.6"), null, "loads, but has no EVP symbols");
});
