import assert from "node:assert/strict";
import fc from "fast-check";
import { SigningKey, verifySignature } from "../../mesh/signing.ts";
import type { SignatureCheck } from "../../mesh/gossip_channel.ts";
import {
  authenticate,
  decodeRecords,
  encodeRecords,
  MacGossipState,
  MAX_VERSION,
  MAX_VERSION_STEP,
  mustReassert,
  nextVersion,
  type PeerRecord,
  recordBody,
  type SignedRecord,
  signRecord,
} from "./mac_gossip.ts";

const peerName = (n: number) => `02:00:00:00:00:0${n}`;
const keys = [1, 2, 3, 4].map((n) => SigningKey.fromSeed(new Uint8Array(32).fill(n)));
const keyOf = (peer: string) => keys[Number(peer.slice(-1)) - 1];

const rec = (peer: number, version: number, macs: string[] = []): PeerRecord => ({
  peer: peerName(peer),
  version,
  addr: `192.168.0.${peer}`,
  sleevePort: 6783,
  fastdpPort: 6784,
  fastdp: true,
  macs,
});
const signed = (r: PeerRecord, key = keyOf(r.peer)) => signRecord(r, (d, p) => key.sign(d, p));

/** Verification as the mesh does it: against the key bound to the author's name. */
const bound = new Map([1, 2, 3].map((n) => [peerName(n), keys[n - 1].publicKey]));
const verify = (author: string, d: string, p: Uint8Array, s: Uint8Array): SignatureCheck => {
  const k = bound.get(author);
  return !k ? "unknown-author" : verifySignature(k, d, p, s) ? "valid" : "invalid";
};

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const text = (s: string) => new TextEncoder().encode(s);

Deno.test("golden vector: a record's signed body and signature (a format change must fail here)", () => {
  const s = signed(rec(1, 1_700_000_000, ["0a:00:00:00:00:01"]));
  assert.equal(
    new TextDecoder().decode(s.body),
    '{"peer":"02:00:00:00:00:01","version":1700000000,"addr":"192.168.0.1","sleevePort":6783,' +
      '"fastdpPort":6784,"fastdp":true,"macs":["0a:00:00:00:00:01"]}',
  );
  assert.equal(
    hex(s.signature),
    // Ed25519 is deterministic: the seed's key over "weavets-sig\0macs/record\0" ‖ body.
    "5bd83990ca077d53ece25e461108e743820c499da841421595a7a91ed865cbe7" +
      "0418c9cfe131345288964b853495d774db46ce12464be1e471c79a9aaa20ce0b",
  );
  assert.equal(
    new TextDecoder().decode(encodeRecords([s])).slice(0, 12),
    '[{"b":"eyJwZ',
  );
});

Deno.test("records round-trip signed; malformed messages and bodies are refused", () => {
  const s = signed(rec(1, 3, ["0A:00:00:00:00:01"]));
  const [back] = decodeRecords(encodeRecords([s]));
  assert.deepEqual(back.record, { ...rec(1, 3), macs: ["0a:00:00:00:00:01"] });
  assert.deepEqual(back.body, s.body);
  assert.deepEqual(back.signature, s.signature);
  const wire = (b: Uint8Array, sig = s.signature) =>
    text(JSON.stringify([{
      b: btoa(String.fromCharCode(...b)).replace(/=+$/, "").replace(/\+/g, "-").replace(
        /\//g,
        "_",
      ),
      s: btoa(String.fromCharCode(...sig)).replace(/=+$/, "").replace(/\+/g, "-").replace(
        /\//g,
        "_",
      ),
    }]));
  assert.equal(decodeRecords(wire(s.body)).length, 1, "the control: a well-formed message");
  assert.throws(() => decodeRecords(wire(text(JSON.stringify({ ...rec(1, 3), addr: "x" })))));
  assert.throws(
    () => decodeRecords(wire(text(JSON.stringify(rec(1, Number.MAX_SAFE_INTEGER))))),
    "a version of 2^53-1 is malformed",
  );
  assert.throws(() => decodeRecords(wire(text(JSON.stringify(rec(1, MAX_VERSION + 1))))));
  assert.throws(() => decodeRecords(wire(s.body, s.signature.subarray(0, 63))), "short signature");
  assert.throws(() => decodeRecords(text("{")));
  assert.throws(() => decodeRecords(text(JSON.stringify([{ ...rec(1, 3) }]))), "unsigned (v1)");
  assert.throws(() => recordBody({ ...rec(1, 3), version: -1 }));
});

Deno.test("authenticate: only records their own peer signed, byte for byte, are merged", () => {
  const good = signed(rec(2, 5));
  const forged = signed(rec(2, 6), keys[0]); // peer 1's key on peer 2's record
  const altered = { ...good, body: text(new TextDecoder().decode(good.body).replace("5", "7")) };
  const stranger = signed(rec(4, 1)); // no key bound for peer 4 yet
  const own = signed(rec(1, 9));
  const r = authenticate([good, forged, altered, stranger, own], peerName(1), verify);
  assert.deepEqual(r.others, [good]);
  assert.deepEqual(r.own, [own]);
  assert.deepEqual(r.dropped, [
    { peer: peerName(2), reason: "invalid" },
    { peer: peerName(2), reason: "invalid" },
    { peer: peerName(4), reason: "unknown-author" },
  ]);
});

Deno.test("merge keeps the greatest record per peer, reports news, refuses version jumps", () => {
  const s = new MacGossipState();
  assert.equal(s.merge([signed(rec(1, 2))]).fresh.length, 1);
  assert.equal(s.merge([signed(rec(1, 2))]).fresh.length, 0, "idempotent");
  assert.equal(s.merge([signed(rec(1, 1, ["0a:00:00:00:00:01"]))]).fresh.length, 0, "older loses");
  assert.deepEqual(s.get(peerName(1))!.macs, []);
  const far = s.merge([signed(rec(1, 2 + MAX_VERSION_STEP + 1))]);
  assert.deepEqual(far, { fresh: [], jumped: [peerName(1)] });
  assert.equal(s.merge([signed(rec(1, 2 + MAX_VERSION_STEP))]).fresh.length, 1, "a full step");
  // Same version, other content: the greater body wins in either order.
  const a = signed(rec(2, 7, ["0a:00:00:00:00:01"]));
  const b = signed(rec(2, 7, ["0a:00:00:00:00:02"]));
  for (const order of [[a, b], [b, a]]) {
    const t = new MacGossipState();
    for (const r of order) t.merge([r]);
    assert.deepEqual(t.get(peerName(2))!.macs, ["0a:00:00:00:00:02"]);
  }
  s.retain(new Set());
  assert.equal(s.all().length, 0);
});

Deno.test("merge converges in any order, with duplicates and same-version conflicts (CRDT)", () => {
  let conflicts = 0;
  const update = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.nat(4), fc.nat(3));
  const arb = fc.array(update, { maxLength: 14 }).chain((ups) =>
    fc.tuple(fc.constant(ups), fc.shuffledSubarray(ups, { minLength: ups.length }))
  );
  fc.assert(
    fc.property(arb, ([ups, shuffled]) => {
      // (peer, version, content): few versions and contents, so the same (peer, version) with
      // different content is common — the case where an order-dependent merge diverges.
      const mk = ([p, v, m]: [number, number, number]) =>
        signed(rec(p, v, [`0a:00:00:00:00:0${m}`]));
      const seen = new Map<string, string>();
      for (const [p, v, m] of ups) {
        const k = `${p}/${v}`;
        if (seen.has(k) && seen.get(k) !== `${m}`) conflicts++;
        seen.set(k, `${m}`);
      }
      const s1 = new MacGossipState();
      const s2 = new MacGossipState();
      for (const u of ups) s1.merge([mk(u)]);
      for (const u of shuffled) s2.merge([mk(u), mk(u)]);
      const s3 = new MacGossipState();
      s3.merge(s1.signed());
      s3.merge(s2.signed());
      const norm = (s: MacGossipState) => s.signed().map((r: SignedRecord) => hex(r.body)).sort();
      assert.deepEqual(norm(s1), norm(s2));
      assert.deepEqual(norm(s3), norm(s1), "associative: merging both states changes nothing");
    }),
    { numRuns: 300 },
  );
  assert.ok(conflicts > 50, `the generator made only ${conflicts} same-version conflicts`);
});

Deno.test("versions: seconds of the wall clock, above any own record seen, capped; re-assert", () => {
  assert.equal(nextVersion(0, 1_700_000_000_500), 1_700_000_000);
  assert.equal(nextVersion(1_700_000_000, 1_700_000_000_900), 1_700_000_001, "two in a second");
  assert.equal(nextVersion(5, 1000, 90), 91, "above a record of its own from an earlier life");
  assert.equal(nextVersion(MAX_VERSION, 0), MAX_VERSION);
  const mine = signed(rec(1, 10, ["0a:00:00:00:00:01"]));
  assert.equal(mustReassert(mine, mine), false, "its own record echoed back");
  assert.equal(mustReassert(mine, signed(rec(1, 9))), false);
  assert.equal(mustReassert(mine, signed(rec(1, 11))), true);
  const sameVersion = signed(rec(1, 10, ["0a:00:00:00:00:09"]));
  assert.equal(mustReassert(mine, sameVersion), true, "same version, greater content");
  assert.equal(mustReassert(undefined, sameVersion), false);
});
