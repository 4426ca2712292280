import assert from "node:assert/strict";
import { open, sealChunks } from "./aead.ts";
import { directionKey, keyIdHex, SleeveKeyError, SleeveKeyRing } from "./keys.ts";
import { derivePsk, deriveSession, generateKeyPair, transcriptHash } from "../../mesh/crypto.ts";
import type { DataKey } from "../../mesh/gossip_channel.ts";
import { parseMac } from "../../addr/mod.ts";

const A = "02:00:00:00:00:0a", B = "02:00:00:00:00:0b", C = "02:00:00:00:00:0c";
const a = parseMac(A), b = parseMac(B);
const aad = new Uint8Array(24).fill(1);
const text = new TextEncoder().encode("KNOWN-PLAINTEXT pod traffic");

const TRANSCRIPT = transcriptHash(new Uint8Array(1), new Uint8Array(2));

/** Both ends of one real control-connection key exchange with `password`. */
function connection(password: string): { ab: DataKey; ba: DataKey } {
  const ka = generateKeyPair(), kb = generateKeyPair(), psk = derivePsk(password);
  return {
    ab: deriveSession(ka, kb.publicKey, psk, TRANSCRIPT, true, 0).dataKey,
    ba: deriveSession(kb, ka.publicKey, psk, TRANSCRIPT, false, 0).dataKey,
  };
}

const seal = (key: Uint8Array, seq: number) =>
  new Uint8Array(sealChunks(key, seq, aad, [text]).flatMap((c) => [...c]));

Deno.test("sleeve keys: both ends of a connection agree per direction, and directions differ", () => {
  const { ab, ba } = connection("pw");
  const aToB = directionKey(ab, a, b);
  assert.deepEqual(directionKey(ba, a, b), aToB, "B derives A's send key as its receive key");
  assert.notDeepEqual(directionKey(ab, b, a), aToB, "one key per direction");
  assert.deepEqual(open(directionKey(ba, a, b), 0, aad, seal(aToB, 0)), text);
  assert.equal(open(directionKey(ba, b, a), 0, aad, seal(aToB, 0)), null, "no reflection");
  const relayAToB = directionKey(ab, a, b, true);
  assert.deepEqual(directionKey(ba, a, b, true), relayAToB, "both ends agree on the relay key");
  assert.notDeepEqual(relayAToB, aToB, "relayed messages have their own key (own counter)");
  assert.equal(open(aToB, 0, aad, seal(relayAToB, 0)), null);
  assert.throws(
    () => directionKey({ id: new Uint8Array(4), secret: ab.secret }, a, b),
    SleeveKeyError,
  );
});

Deno.test("sleeve keys: a capture plus the password does not open the data path", () => {
  // The attacker knows the password and sees both public keys in the capture, but holds neither
  // private key: any exchange it can run (its own key pair against either end's public key)
  // gives another secret, and so do other connections between the same peers.
  const victim = connection("shared-pw");
  const sealed = seal(directionKey(victim.ab, a, b), 7);
  const other = connection("shared-pw");
  assert.notDeepEqual(other.ab.secret, victim.ab.secret);
  assert.equal(open(directionKey(other.ab, a, b), 7, aad, sealed), null);
  const attacker = generateKeyPair(), end = generateKeyPair();
  const forged = deriveSession(attacker, end.publicKey, derivePsk("shared-pw"), TRANSCRIPT, true, 0)
    .dataKey;
  const guess = { id: victim.ab.id, secret: forged.secret };
  assert.equal(open(directionKey(guess, a, b), 7, aad, sealed), null);
  assert.deepEqual(open(directionKey(victim.ba, a, b), 7, aad, sealed), text, "the peer opens it");
});

const dk = (n: number): DataKey => ({
  id: new Uint8Array(8).fill(n),
  secret: new Uint8Array(32).fill(n),
});

Deno.test("sleeve keys: a reconnection keeps the previous receive key for the grace period only", () => {
  const ring = new SleeveKeyRing(A, 10_000);
  assert.deepEqual(ring.all(), [], "no connection, no keys");
  ring.sync(new Map([[B, dk(1)]]), 1000);
  let [k] = ring.all();
  assert.equal(k.peer, B);
  assert.equal(k.tx!.id, keyIdHex(dk(1).id));
  assert.deepEqual(k.tx!.key, directionKey(dk(1), a, b));
  assert.deepEqual(k.tx!.relay, directionKey(dk(1), a, b, true));
  assert.deepEqual(k.rx, [{
    id: k.tx!.id,
    key: directionKey(dk(1), b, a),
    relay: directionKey(dk(1), b, a, true),
    until: Infinity,
    slot: 0,
  }]);

  ring.sync(new Map([[B, dk(2)]]), 2000);
  [k] = ring.all();
  assert.equal(k.tx!.id, keyIdHex(dk(2).id), "sends with the new connection's key");
  assert.deepEqual(k.rx.map((r) => [r.id, r.until]), [
    [keyIdHex(dk(2).id), Infinity],
    [keyIdHex(dk(1).id), 12_000],
  ]);
  ring.sync(new Map([[B, dk(2)]]), 12_000);
  assert.deepEqual(ring.all()[0].rx.map((r) => r.id), [keyIdHex(dk(2).id)], "grace over");

  // The connection closes: nothing is sent, the last key still opens for the grace period.
  ring.sync(new Map(), 13_000);
  [k] = ring.all();
  assert.equal(k.tx, undefined);
  assert.deepEqual(k.rx.map((r) => [r.id, r.until]), [[keyIdHex(dk(2).id), 23_000]]);
  ring.sync(new Map(), 23_000);
  assert.deepEqual(ring.all(), []);
});

Deno.test("sleeve keys: a key id used before is never used again (its counter would restart)", () => {
  const ring = new SleeveKeyRing(A);
  ring.sync(new Map([[B, dk(1)], [C, dk(3)]]), 0);
  ring.sync(new Map([[B, dk(2)], [C, dk(3)]]), 1);
  assert.deepEqual(ring.sync(new Map([[B, dk(1)], [C, dk(3)]]), 2), [keyIdHex(dk(1).id)]);
  const tx = new Map(ring.all().map((k) => [k.peer, k.tx?.id]));
  assert.equal(tx.get(B), undefined, "refused: B gets nothing rather than a reused key");
  assert.equal(tx.get(C), keyIdHex(dk(3).id), "other peers are unaffected");
});

/** Golden HKDF outputs (docs/PROTOCOL.md §7): a changed label, salt or order fails here. */
const GOLDEN_DK = {
  id: Uint8Array.from({ length: 8 }, (_, i) => i),
  secret: Uint8Array.from({ length: 32 }, (_, i) => 0x20 + i),
} satisfies DataKey;
const GOLDEN_KEYS: Array<[string, Uint8Array, Uint8Array, boolean, string]> = [
  ["A → B", a, b, false, "a42978d4fa66c6ad341e9ca276ce6a04c0999921cb8eee621f0dd1ee3bc9b5f4"],
  ["B → A", b, a, false, "551acf08b5fc0b3042b14c339dc304a693a8c3a9ae0d16abe676a28bd9f6c3e1"],
  ["A → B relay", a, b, true, "c5cfdc66fe5922e22d99dc1beddf4d3ff6f3b9096ceb7506256a2115d26d5505"],
  ["B → A relay", b, a, true, "cdb29cec9a499f686be1ee95b0d6e291801b950c4e979570767f30455acf8025"],
];

Deno.test("golden: sleeve key derivation, pinned and recomputed with WebCrypto's HKDF", async () => {
  const hex = (x: Uint8Array) => Array.from(x, (v) => v.toString(16).padStart(2, "0")).join("");
  const base = await crypto.subtle.importKey("raw", GOLDEN_DK.secret, "HKDF", false, [
    "deriveBits",
  ]);
  for (const [what, from, to, relay, want] of GOLDEN_KEYS) {
    assert.equal(hex(directionKey(GOLDEN_DK, from, to, relay)), want, what);
    const label = new TextEncoder().encode(relay ? "weavets sleeve v2 relay" : "weavets sleeve v2");
    const info = Uint8Array.from([...label, ...from, ...to]);
    const bits = await crypto.subtle.deriveBits(
      { name: "HKDF", hash: "SHA-256", salt: GOLDEN_DK.id, info },
      base,
      256,
    );
    assert.equal(hex(new Uint8Array(bits)), want, `${what}, as the protocol document says`);
  }
});

Deno.test("receive keys get a ring slot each (for their replay windows), a new one per new key", () => {
  const ring = new SleeveKeyRing(A);
  ring.sync(new Map([[B, dk(1)]]), 0);
  ring.sync(new Map([[B, dk(1)], [C, dk(2)]]), 0);
  ring.sync(new Map([[B, dk(3)], [C, dk(2)]]), 0);
  const slots = Object.fromEntries(
    ring.all().flatMap((k) => k.rx.map((r) => [`${k.peer} ${r.id.slice(0, 2)}`, r.slot])),
  );
  assert.deepEqual(slots, { [`${B} 03`]: 2, [`${B} 01`]: 0, [`${C} 02`]: 1 });
});
