import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import {
  type ConnectionRecord,
  encodeBody,
  encodeUpdate,
  ENTRY_DOMAIN,
  type EntryBody,
  entryBytes,
  LIMITS,
  MAX_VERSION,
  mergeTopology,
  type PeerEntry,
  signEntry,
  type Topology,
  TopologyDecodeError,
} from "./topology.ts";
import { decodeUpdate } from "./topology_decode.ts";
import { TestKeyring } from "./testing/keyring.ts";
import { SigningKey, verifySignature } from "./signing.ts";

const ring = new TestKeyring();
const NAMES = ["02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03", "02:00:00:00:00:04"];
const sign = (b: EntryBody, signer = ring.key(b.name)) =>
  signEntry(b, signer.publicKey, (d, p) => signer.sign(d, p));

const name = fc.constantFrom(...NAMES);
const conn: fc.Arbitrary<ConnectionRecord> = fc.record({
  name,
  address: fc.constantFrom("10.0.0.1:6783", "10.0.0.2:6783", "[fd00::1]:6783"),
  outbound: fc.boolean(),
  established: fc.boolean(),
}).map((c) => ({ ...c }));
// Content is independent of (name, uid, version), so equal stamps with different content (an
// author that equivocates) are generated: the one case where the order of merging could matter.
const body: fc.Arbitrary<EntryBody> = fc.record({
  name,
  nickname: fc.constantFrom("a", "b", "nœud"),
  uid: fc.constantFrom("0000000000000001", "00000000000000ff"),
  version: fc.integer({ min: 0, max: 3 }),
  connections: fc.uniqueArray(conn, { selector: (c) => c.name, maxLength: 3 }),
}).map((b) => ({ ...b }));
const entry: fc.Arbitrary<PeerEntry> = body.map((b) => sign(b));
const topology: fc.Arbitrary<Topology> = fc.array(entry, { maxLength: 6 }).map((es) =>
  es.reduce((t, e) => mergeTopology(t, new Map([[e.name, e]])), new Map<string, PeerEntry>())
);

function same(a: Topology, b: Topology): void {
  const bytes = (t: Topology) => [...t].sort().map(([n, e]) => [n, entryBytes(e)]);
  assert.deepEqual(bytes(a), bytes(b));
}

Deno.test("topology: merge is idempotent, commutative and associative (equivocating authors included)", () => {
  fc.assert(
    fc.property(topology, topology, topology, (a, b, c) => {
      same(mergeTopology(a, a), a);
      same(mergeTopology(a, b), mergeTopology(b, a));
      same(mergeTopology(mergeTopology(a, b), c), mergeTopology(a, mergeTopology(b, c)));
    }),
    { numRuns: 300 },
  );
});

Deno.test("topology: updates survive the codec, signatures intact", () => {
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 5 }), (es) => {
      const back = decodeUpdate(encodeUpdate(es));
      assert.deepEqual(back.map(entryBytes), es.map(entryBytes));
      const fields = (e: PeerEntry) => {
        const { name, nickname, uid, version, key, signature, connections } = e;
        return { name, nickname, uid, version, key, signature, connections };
      };
      for (const [i, e] of back.entries()) {
        assert.deepEqual(fields(e), fields(es[i]));
        const part = entryBytes(e).subarray(0, entryBytes(e).length - 64);
        assert.ok(verifySignature(e.key, ENTRY_DOMAIN, part, e.signature));
      }
    }),
    { numRuns: 100 },
  );
});

// Golden vector: a fixed key (RFC 8032 test 1's seed), a fixed entry. Ed25519 signatures are
// deterministic, so the whole update is fixed. The signature was computed independently, with
// python3's `cryptography` over the bytes written out below:
//   Ed25519PrivateKey.from_private_bytes(seed).sign(b"weavets-sig\0topology/entry\0" + body)
const GOLDEN_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const GOLDEN_BODY: EntryBody = {
  name: "02:00:00:00:00:01",
  nickname: "n1",
  uid: "0123456789abcdef",
  version: 7,
  connections: [
    { name: "02:00:00:00:00:03", address: "10.0.0.3:6783", outbound: false, established: false },
    { name: "02:00:00:00:00:02", address: "10.0.0.2:6783", outbound: true, established: true },
  ],
};
const GOLDEN_UPDATE = "01" + "0001" +
  // name, uid, version
  "020000000001" + "0123456789abcdef" + "0000000000000007" +
  // key (RFC 8032 test 1's public key)
  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a" +
  // nickname, 2 connections (sorted by name): name, flags, address
  "02" + "6e31" + "0002" +
  "020000000002" + "03" + "0d" + "31302e302e302e323a36373833" +
  "020000000003" + "00" + "0d" + "31302e302e302e333a36373833" +
  // signature over "weavets-sig\0topology/entry\0" ‖ everything above but the first 3 bytes
  "GOLDEN_SIG";
const GOLDEN_SIGNATURE = "c08b39eb142fffa3393bf810fccd110846997453024aebb268705996639da39c" +
  "cdd5cdd08ef5ef4a3d225feda4ad6f65cd9239a4d4ae5e48cb9467fcb7db410a";

Deno.test("topology: golden vector for an update and its signature", () => {
  const key = SigningKey.fromSeed(Uint8Array.from(Buffer.from(GOLDEN_SEED, "hex")));
  const e = sign(GOLDEN_BODY, key);
  const hex = Buffer.from(encodeUpdate([e])).toString("hex");
  const sig = Buffer.from(e.signature).toString("hex");
  assert.equal(hex, GOLDEN_UPDATE.replace("GOLDEN_SIG", GOLDEN_SIGNATURE));
  assert.equal(sig, GOLDEN_SIGNATURE);
  const [back] = decodeUpdate(Uint8Array.from(Buffer.from(hex, "hex")));
  assert.equal(back.version, 7);
  assert.equal(back.connections[0].name, "02:00:00:00:00:02");
  assert.equal(back.connections[0].established, true);
  assert.equal(back.connections[1].outbound, false);
});

Deno.test("topology: malformed or oversized updates are typed errors, before anything is parsed", () => {
  const ok = encodeUpdate([sign({ ...GOLDEN_BODY })]);
  const cases: Array<[string, Uint8Array]> = [
    ["empty", new Uint8Array()],
    ["unknown format", Uint8Array.of(2, 0, 0)],
    ["truncated", ok.slice(0, ok.length - 1)],
    ["trailing bytes", Uint8Array.of(...ok, 0)],
    ["count too high", Uint8Array.of(1, 0xff, 0xff)],
    ["oversized", new Uint8Array(LIMITS.bytesPerMessage + 1)],
  ];
  const flip = (offset: number, value: number) => {
    const b = ok.slice();
    b[offset] = value;
    return b;
  };
  // 3 + 22 + 32 + 1 + 2 + 2 = the first connection's name; +6 its flags, +7 its address length
  const firstConn = 3 + 22 + 32 + 1 + 2 + 2;
  cases.push(["unknown connection flags", flip(firstConn + 6, 4)]);
  cases.push(["address too long", flip(firstConn + 7, LIMITS.address + 1)]);
  cases.push(["connections out of order", flip(firstConn + 5, 9)]);
  cases.push(["nickname not UTF-8", flip(3 + 22 + 32 + 1, 0xff)]);
  cases.push(["address not printable ASCII", flip(firstConn + 8, 0x20)]);
  const big = ok.slice();
  new DataView(big.buffer).setBigUint64(3 + 14, BigInt(MAX_VERSION) + 1n);
  cases.push(["version above the cap", big]);
  for (const [what, b] of cases) assert.throws(() => decodeUpdate(b), TopologyDecodeError, what);
  assert.throws(() => encodeBody({ ...GOLDEN_BODY, version: 2 ** 53 }, new Uint8Array(32)));
  assert.throws(() => encodeBody({ ...GOLDEN_BODY, nickname: "x".repeat(65) }, new Uint8Array(32)));
  const spaced = { ...GOLDEN_BODY.connections[0], address: "10.0.0.1 :1" };
  assert.throws(() => encodeBody({ ...GOLDEN_BODY, connections: [spaced] }, new Uint8Array(32)));
});
