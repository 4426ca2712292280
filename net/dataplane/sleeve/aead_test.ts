import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import {
  AEAD_TAG,
  aeadBackend,
  AeadError,
  commitTag,
  nodeCryptoBackend,
  open,
  ReplayWindow,
  sealChunks,
  selectBackend,
  verifyCommit,
} from "./aead.ts";
import { type AeadBackend, loadLibcrypto } from "./aead_libcrypto.ts";

const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

function seal(key: Uint8Array, seq: number, aad: Uint8Array, plain: Uint8Array): Uint8Array {
  // Two chunks: sealing a message in pieces must equal sealing it whole.
  return concat(sealChunks(key, seq, aad, [plain.subarray(0, 5), plain.subarray(5)]));
}

// Two unrelated keys (the key schedule itself is keys.ts's, tested there).
const keyAB = crypto.getRandomValues(new Uint8Array(32));
const keyBA = crypto.getRandomValues(new Uint8Array(32));

Deno.test("seal/open round-trips and rejects tampering, wrong key, wrong seq, wrong header", () => {
  const k = keyAB;
  const aad = new Uint8Array(24).fill(1);
  const plain = new TextEncoder().encode("known plaintext in a pod packet");
  const s = seal(k, 5, aad, plain);
  assert.equal(s.length, plain.length + 16);
  assert.equal(new TextDecoder().decode(s).includes("known plaintext"), false);
  assert.deepEqual(open(k, 5, aad, s), plain);
  assert.equal(open(k, 6, aad, s), null, "nonce is bound to seq");
  assert.equal(open(keyBA, 5, aad, s), null);
  const aad2 = aad.slice();
  aad2[3] ^= 1;
  assert.equal(open(k, 5, aad2, s), null);
  for (let i = 0; i < s.length; i += 7) {
    const t = s.slice();
    t[i] ^= 0x80;
    assert.equal(open(k, 5, aad, t), null, `flip at ${i}`);
  }
  assert.equal(open(k, 5, aad, new Uint8Array(3)), null);
});

const libcrypto = loadLibcrypto();
const both: AeadBackend[] = libcrypto ? [libcrypto, nodeCryptoBackend] : [nodeCryptoBackend];

Deno.test("libcrypto is used where it loads, node:crypto where it does not", () => {
  assert.equal(aeadBackend(), libcrypto ? "libcrypto" : "node:crypto");
  assert.equal(selectBackend("libweavets-no-such-crypto.so.3"), nodeCryptoBackend);
});

Deno.test("either backend opens what the other sealed, any size and chunking (property)", () => {
  const sizes = fc.oneof(
    fc.constantFrom(0, 1, 15, 16, 17, 63, 64, 65, 1400, 65535, 65536, 65550, 131072),
    fc.nat(70_000),
  );
  const message = sizes.chain((size) =>
    fc.record({
      size: fc.constant(size),
      seed: fc.nat(255),
      cuts: fc.uniqueArray(fc.nat(size), { maxLength: 8 }),
      nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
      aad: fc.uint8Array({ minLength: 0, maxLength: 32 }),
      key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    })
  );
  fc.assert(
    fc.property(message, ({ size, seed, cuts, nonce, aad, key }) => {
      const plain = new Uint8Array(size).map((_, i) => (i * 31 + seed) & 255);
      const edges = [0, ...cuts.sort((x, y) => x - y), size];
      const chunks = edges.slice(1).map((e, i) => plain.subarray(edges[i], e));
      for (const sealer of both) {
        const sealed = concat(sealer.seal(key, nonce, aad, chunks));
        assert.equal(sealed.length, size + AEAD_TAG);
        for (const opener of both) {
          const got = opener.open(key, nonce, aad, sealed);
          assert.ok(got, `${opener.name} opens what ${sealer.name} sealed (${size} bytes)`);
          assert.equal(Buffer.compare(got, plain), 0);
        }
      }
    }),
    { numRuns: 60 },
  );
});

Deno.test("the wire format: nonce = 4 zero bytes ‖ seq as 64-bit big-endian, any backend", () => {
  const k = keyAB;
  const aad = new Uint8Array(24).fill(9);
  const plain = new Uint8Array(3000).fill(0x5a);
  for (const seq of [0, 1, 0xffffffff, 2 ** 32 + 5, 2 ** 53 - 1]) {
    const nonce = new Uint8Array(12);
    const dv = new DataView(nonce.buffer);
    dv.setUint32(4, Math.floor(seq / 2 ** 32));
    dv.setUint32(8, seq >>> 0);
    const expected = concat(nodeCryptoBackend.seal(k, nonce, aad, [plain]));
    assert.deepEqual(concat(sealChunks(k, seq, aad, [plain])), expected, `seq ${seq}`);
    assert.deepEqual(open(k, seq, aad, expected), plain);
  }
});

Deno.test("a key of the wrong length: sealing throws, opening says no", () => {
  const aad = new Uint8Array(24);
  assert.throws(() => sealChunks(new Uint8Array(16), 0, aad, [new Uint8Array(8)]), AeadError);
  assert.equal(open(new Uint8Array(16), 0, aad, new Uint8Array(40)), null);
});

Deno.test("sealTag: the tag of an empty message, the same from both backends, and it leaves seal's output alone", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.uint8Array({ maxLength: 80 }),
      (key, nonce, aad) => {
        const tags = both.map((b) => Uint8Array.from(b.sealTag(key, nonce, aad)));
        for (const t of tags) assert.deepEqual(t, tags[0]);
        assert.deepEqual(tags[0], concat(nodeCryptoBackend.seal(key, nonce, aad, [])));
        for (const b of both) {
          const sealed = b.seal(key, nonce, aad, [new Uint8Array(40).fill(3)]);
          const before = concat(sealed);
          b.sealTag(key, nonce, aad);
          assert.deepEqual(concat(sealed), before, `${b.name}: sealTag clobbered seal's output`);
          assert.ok(b.open(key, nonce, aad, tags[0]), "an empty message opens with its tag");
        }
      },
    ),
    { numRuns: 50 },
  );
});

Deno.test("commit tags: bound to the key, the sequence number and every AAD byte; distinct from the body's nonce", () => {
  const k = new Uint8Array(32).fill(9);
  const aad = new Uint8Array(62).map((_, i) => i);
  const tag = Uint8Array.from(commitTag(k, 77, aad));
  assert.ok(verifyCommit(k, 77, aad, tag));
  assert.equal(verifyCommit(k, 78, aad, tag), false);
  assert.equal(verifyCommit(new Uint8Array(32).fill(8), 77, aad, tag), false);
  for (let i = 0; i < aad.length; i++) {
    const a = aad.slice();
    a[i] ^= 1;
    assert.equal(verifyCommit(k, 77, a, tag), false, `AAD byte ${i}`);
  }
  assert.equal(verifyCommit(k, 77, aad, tag.subarray(0, 15)), false);
  // Under the body's nonce the same AAD gives another tag: the domains never share a nonce.
  assert.notDeepEqual(concat(sealChunks(k, 77, aad, [])), tag);
});

Deno.test("ReplayWindow restored from a top: that number and all below count as seen", () => {
  const w = new ReplayWindow(64, 1000);
  assert.equal(w.top, 1000);
  for (const s of [0, 900, 990, 999, 1000]) assert.equal(w.check(s), false, `${s}`);
  assert.equal(w.accept(1001), true);
  assert.equal(w.accept(995), false);
  assert.equal(new ReplayWindow(64).top, -1);
  assert.equal(new ReplayWindow(64, -1).accept(0), true, "-1: nothing seen");
});

Deno.test("ReplayWindow accepts each sequence number once and nothing too old", () => {
  const w = new ReplayWindow(64);
  assert.equal(w.accept(10), true);
  assert.equal(w.accept(10), false);
  assert.equal(w.accept(5), true, "reordered but inside the window");
  assert.equal(w.accept(5), false);
  assert.equal(w.accept(100), true);
  assert.equal(w.check(36), false, "100 - 36 = 64 is outside a 64 window");
  assert.equal(w.accept(37), true);
  assert.equal(w.accept(1000), true, "a big jump clears the window");
  assert.equal(w.accept(999), true);
  assert.equal(w.accept(100), false);
});

Deno.test("ReplayWindow matches a reference model (property)", () => {
  fc.assert(fc.property(fc.array(fc.nat(300), { maxLength: 200 }), (seqs) => {
    const w = new ReplayWindow(32);
    const seen = new Set<number>();
    let top = -1;
    for (const s of seqs) {
      const expect = !seen.has(s) && (s > top || top - s < 32);
      assert.equal(w.accept(s), expect, `seq ${s} top ${top}`);
      if (expect) {
        seen.add(s);
        top = Math.max(top, s);
      }
    }
  }));
});
