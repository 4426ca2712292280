import assert from "node:assert/strict";
import fc from "fast-check";
import { deriveKey, open, ReplayWindow, sealChunks } from "./aead.ts";

function seal(key: Uint8Array, seq: number, aad: Uint8Array, plain: Uint8Array): Uint8Array {
  // Two chunks: sealing a message in pieces must equal sealing it whole.
  const parts = sealChunks(key, seq, aad, [plain.subarray(0, 5), plain.subarray(5)]);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const pw = new TextEncoder().encode("secret");
const epoch = new Uint8Array(8).fill(7);
const a = new Uint8Array([2, 0, 0, 0, 0, 1]);
const b = new Uint8Array([2, 0, 0, 0, 0, 2]);

Deno.test("keys differ per direction, per epoch and per password", () => {
  const ab = deriveKey(pw, epoch, a, b);
  assert.notDeepEqual(ab, deriveKey(pw, epoch, b, a));
  assert.notDeepEqual(ab, deriveKey(pw, new Uint8Array(8), a, b));
  assert.notDeepEqual(ab, deriveKey(new TextEncoder().encode("other"), epoch, a, b));
  assert.deepEqual(ab, deriveKey(pw, epoch, a, b));
  assert.throws(() => deriveKey(new Uint8Array(), epoch, a, b), /empty password/);
});

Deno.test("seal/open round-trips and rejects tampering, wrong key, wrong seq, wrong header", () => {
  const k = deriveKey(pw, epoch, a, b);
  const aad = new Uint8Array(24).fill(1);
  const plain = new TextEncoder().encode("known plaintext in a pod packet");
  const s = seal(k, 5, aad, plain);
  assert.equal(s.length, plain.length + 16);
  assert.equal(new TextDecoder().decode(s).includes("known plaintext"), false);
  assert.deepEqual(open(k, 5, aad, s), plain);
  assert.equal(open(k, 6, aad, s), null, "nonce is bound to seq");
  assert.equal(open(deriveKey(pw, epoch, b, a), 5, aad, s), null);
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
