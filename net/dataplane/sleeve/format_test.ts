import assert from "node:assert/strict";
import { createDecipheriv } from "node:crypto";
import fc from "fast-check";
import {
  DEFAULT_HOPS,
  forEachEntry,
  forEachFragment,
  type FragmentHeader,
  MAX_BODY,
  MAX_GSO_BYTES,
  MAX_GSO_SEGMENTS,
  type MessageHeader,
  planFragments,
  SLEEVE_FRAGMENT_HEADER,
  SleeveFormatError,
  writeFragmentHeader,
  writeFragments,
} from "./format.ts";
import { MessageComposer } from "./compose.ts";
import { entry, hex, messageDatagrams, unhex } from "./testing/wire.ts";

const A = new Uint8Array([2, 0x77, 0, 0, 0, 1]);
const B = new Uint8Array([2, 0x77, 0, 0, 0, 2]);
const hdr = (over: Partial<MessageHeader> = {}): MessageHeader => ({
  encrypted: false,
  sender: A,
  keyId: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
  seq: 0x1_0000_0002,
  origin: A,
  dest: B,
  hops: DEFAULT_HOPS,
  ...over,
});
const KEY = {
  id: new Uint8Array([0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]),
  key: Uint8Array.from({ length: 32 }, (_, i) => i),
};

Deno.test("golden: the fragment header, field by field (docs/PROTOCOL.md §7)", () => {
  const out = new Uint8Array(SLEEVE_FRAGMENT_HEADER);
  writeFragmentHeader(out, 0, hdr({ encrypted: true }), 3, 7, 0x0102);
  const want = "58" + // magic
    "01" + // flags: encrypted, unicast
    "027700000001" + // sender
    "0102030405060708" + // key id
    "0000000100000002" + // sequence number, 64-bit big-endian
    "027700000001" + // origin
    "027700000002" + // destination
    "10" + // hops left (16)
    "04" + // version 4
    "03" + "07" + // index, count
    "0102"; // payload length
  assert.equal(hex(out), want);
  const bcast = new Uint8Array(SLEEVE_FRAGMENT_HEADER);
  writeFragmentHeader(bcast, 0, hdr({ dest: null }), 0, 1, 0);
  assert.equal(hex(bcast.subarray(0, 2)), "5802", "broadcast flag");
  assert.equal(hex(bcast.subarray(30, 36)), "000000000000", "a broadcast's destination is zeros");
});

/**
 * Every kind of message on the wire, as its datagrams. Encode and decode changed together, or any
 * derivation changed, fails here; the sealed ones are opened below with node:crypto directly.
 */
const GOLDEN: Record<string, { make: () => Uint8Array[]; hex: string[] }> = {
  "unencrypted unicast, one fragment": {
    make: () => messageDatagrams(hdr(), [entry(24, 1)], null, 1400),
    hex: [
      "58000277000000010102030405060708000000010000000202770000000102770000000210040001001c" +
      "000000187d9cbbdaf91837567594b3d2f1102f4e6d8cabcae9082746",
    ],
  },
  "unencrypted broadcast": {
    make: () => messageDatagrams(hdr({ dest: null }), [entry(24, 1)], null, 1400),
    hex: [
      "58020277000000010102030405060708000000010000000202770000000100000000000010040001001c" +
      "000000187d9cbbdaf91837567594b3d2f1102f4e6d8cabcae9082746",
    ],
  },
  "unencrypted, relayed (origin ≠ sender, one hop less)": {
    make: () =>
      messageDatagrams(
        hdr({ origin: new Uint8Array([2, 0x77, 0, 0, 0, 3]), hops: 15 }),
        [entry(24, 1)],
        null,
        1400,
      ),
    hex: [
      "5800027700000001010203040506070800000001000000020277000000030277000000020f040001001c" +
      "000000187d9cbbdaf91837567594b3d2f1102f4e6d8cabcae9082746",
    ],
  },
  "unencrypted, two fragments (lead: total 0x6c)": {
    make: () => messageDatagrams(hdr(), [entry(100, 2)], null, 106),
    hex: [
      "580002770000000101020304050607080000000100000002027700000001027700000002100400020040" +
      "0000006c000000647e9dbcdbfa1938577695b4d3f211304f6e8daccbea0928476685a4c3e201203f5e7d" +
      "9cbbdaf91837567594b3d2f1102f4e6d8cabcae90827",
      "58000277000000010102030405060708000000010000000202770000000102770000000210040102002c" +
      "466584a3c2e1001f3e5d7c9bbad9f81736557493b2d1f00f2e4d6c8baac9e80726456483a2c1e0ff1e3d" +
      "5c7b",
    ],
  },
  "sealed unicast, one fragment (ciphertext ‖ tag)": {
    make: () => messageDatagrams(hdr({ encrypted: true }), [entry(24, 1)], KEY, 1400),
    hex: [
      "58010277000000018877665544332211000000010000000202770000000102770000000210040001002c" +
      "8b205d38ded844ef96c0fa668b70dce04c8cc8ed12580d2edb7cff9d3b157fc602ec5b599a421f1e39f5" +
      "061d",
    ],
  },
  "sealed, three fragments (lead: total 0x8c ‖ tag ‖ commit tag)": {
    make: () => messageDatagrams(hdr({ encrypted: true }), [entry(100, 2)], KEY, 106),
    hex: [
      "580102770000000188776655443322110000000100000002027700000001027700000002100400030040" +
      "0000008c0ab62113ed5b955ce7be16cc8e69651e13f35de49e7925e45463a8ce86fde31a8b205d44ddd9" +
      "43ee95c1f5678871dbe14f8dd7ec11590a2fd87df09c",
      "580102770000000188776655443322110000000100000002027700000001027700000002100401030040" +
      "73d95a10cb9812d9724e523d835f32b003f5b83f1763a41f5e0e76745ed6dc3a1056b2d31f5b0df7384c" +
      "221c00f26973c500545217b0ec40dc9ffbc9b340d9bf",
      "58010277000000018877665544332211000000010000000202770000000102770000000210040203000c" +
      "253a24c0e3bbca9abd761d2e",
    ],
  },
};

for (const [name, g] of Object.entries(GOLDEN)) {
  Deno.test(`golden: ${name}`, () => {
    assert.deepEqual(g.make().map(hex), g.hex);
  });
}

/** ChaCha20-Poly1305 open with node:crypto, independent of aead.ts. */
function chachaOpen(
  nonceDomain: number,
  aad: Uint8Array,
  ct: Uint8Array,
  tag: Uint8Array,
): Uint8Array {
  const nonce = new Uint8Array(12);
  const dv = new DataView(nonce.buffer);
  dv.setUint32(0, nonceDomain);
  dv.setUint32(4, 1);
  dv.setUint32(8, 2); // seq 0x1_0000_0002
  const d = createDecipheriv("chacha20-poly1305", KEY.key, nonce, { authTagLength: 16 });
  d.setAAD(aad, { plaintextLength: ct.length });
  d.setAuthTag(tag);
  const out = d.update(ct);
  d.final(); // throws when the tag is wrong
  return new Uint8Array(out);
}

Deno.test("golden sealed vectors open with node:crypto as docs/PROTOCOL.md §7 says", () => {
  const one = unhex(GOLDEN["sealed unicast, one fragment (ciphertext ‖ tag)"].hex[0]);
  const p = one.subarray(42);
  assert.deepEqual(
    chachaOpen(0, one.subarray(0, 38), p.subarray(0, p.length - 16), p.subarray(p.length - 16)),
    entry(24, 1),
  );
  const [f0, f1, f2] = GOLDEN["sealed, three fragments (lead: total 0x8c ‖ tag ‖ commit tag)"]
    .hex.map(unhex);
  const lead = f0.subarray(42, 42 + 36);
  assert.equal(new DataView(lead.buffer, lead.byteOffset).getUint32(0), 140, "total");
  // The commit tag: nonce domain 1, AAD = fragment 0's header ‖ total ‖ the message's tag.
  chachaOpen(1, f0.subarray(0, 42 + 4 + 16), new Uint8Array(0), lead.subarray(20, 36));
  const ct = new Uint8Array([...f0.subarray(42 + 36), ...f1.subarray(42), ...f2.subarray(42)]);
  assert.deepEqual(chachaOpen(0, f0.subarray(0, 38), ct, lead.subarray(4, 20)), entry(100, 2));
});

Deno.test("planFragments: pinned numbers at a 1400-byte segment (1358-byte payloads)", () => {
  assert.deepEqual(planFragments(1358, 1400, false), { count: 1, per: 1358, total: 1358, lead: 0 });
  assert.deepEqual(planFragments(1359, 1400, false), { count: 2, per: 1358, total: 1363, lead: 4 });
  assert.deepEqual(planFragments(1342, 1400, true), { count: 1, per: 1358, total: 1358, lead: 0 });
  assert.deepEqual(planFragments(1343, 1400, true), { count: 2, per: 1358, total: 1379, lead: 36 });
  assert.equal(planFragments(MAX_BODY, 1400, true).count, 49, "a 64 KiB superframe");
  assert.throws(() => planFragments(MAX_BODY + 1, 1400, false), SleeveFormatError);
  assert.throws(() => planFragments(100, 42 + 63, false), SleeveFormatError, "segment too small");
});

Deno.test("fragments are GSO-shaped: all but the last exactly segSize, sends within the kernel's limits", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 24, max: 65559 }),
      fc.integer({ min: 600, max: 9000 }),
      fc.boolean(),
      (n, segSize, sealed) => {
        const ds = messageDatagrams(
          hdr({ encrypted: sealed }),
          [entry(n, 3)],
          sealed ? KEY : null,
          segSize,
        );
        for (const d of ds.slice(0, -1)) assert.equal(d.length, segSize);
        assert.ok(ds.at(-1)!.length <= segSize);
        let seen = 0;
        for (const d of ds) {
          assert.ok(forEachFragment(d, d.length, (h) => {
            assert.equal(h.index, seen++);
            assert.equal(h.count, ds.length);
          }));
        }
      },
    ),
    { numRuns: 60 },
  );
  const { plan, chunks } = new MessageComposer().compose(hdr(), [entry(65535 + 24, 1)], null, 1000);
  const sends: number[] = [];
  writeFragments(new Uint8Array(200_000), 0, hdr(), plan, chunks, 1000, sends);
  for (let i = 1; i < sends.length; i += 2) {
    assert.ok(sends[i] <= MAX_GSO_BYTES && sends[i] <= MAX_GSO_SEGMENTS * 1000);
  }
  assert.throws(
    () => writeFragments(new Uint8Array(200_000), 0, hdr(), plan, [entry(10, 1)], 1000, []),
    SleeveFormatError,
    "chunks that do not add up to the plan",
  );
});

Deno.test("without UDP GSO every fragment is its own send", () => {
  const { plan, chunks } = new MessageComposer().compose(hdr(), [entry(5000, 9)], null, 1400);
  const sends: number[] = [];
  writeFragments(new Uint8Array(100_000), 0, hdr(), plan, chunks, 1400, sends, false);
  assert.equal(sends.length / 2, 4, "5008 bytes (lead included) in 1358-byte fragments");
  for (let i = 1; i < sends.length; i += 2) assert.ok(sends[i] <= 1400);
});

Deno.test("GRO-coalesced datagrams split by their own lengths", () => {
  const ds = messageDatagrams(hdr(), [entry(5000, 9)], null, 1400);
  const all = new Uint8Array(ds.reduce((n, d) => n + d.length, 0));
  let o = 0;
  for (const d of ds) {
    all.set(d, o);
    o += d.length;
  }
  const seen: FragmentHeader[] = [];
  assert.ok(forEachFragment(all, all.length, (h) => seen.push({ ...h })));
  assert.deepEqual(seen.map((h) => h.index), [0, 1, 2, 3]);
  assert.equal(seen[3].payloadOff + seen[3].payloadLen, all.length);
});

Deno.test("forEachFragment refuses every malformed header field, and stops there", () => {
  const [d] = messageDatagrams(hdr(), [entry(60, 1)], null, 1400);
  const ok = (b: Uint8Array, len = b.length) => forEachFragment(b, len, () => {});
  assert.equal(ok(d), true);
  const bad = (at: number, v: number) => {
    const b = d.slice();
    b[at] = v;
    return b;
  };
  assert.equal(ok(d, d.length - 1), false, "length past the end");
  assert.equal(ok(d.subarray(0, 41)), false, "truncated header");
  assert.equal(ok(bad(0, 0x57)), false, "magic");
  assert.equal(ok(bad(1, 4)), false, "unknown flag bits");
  assert.equal(ok(bad(37, 0)), false, "version 3 (its byte 37 was 0)");
  assert.equal(ok(bad(37, 5)), false, "a later version");
  assert.equal(ok(bad(39, 0)), false, "count 0");
  assert.equal(ok(bad(38, 1)), false, "index not below the count");
  assert.equal(ok(bad(40, 0xff)), false, "payload length past the end");
  // A good fragment followed by garbage: the good one is passed on, then it stops.
  const two = new Uint8Array(d.length + 10);
  two.set(d);
  let n = 0;
  assert.equal(forEachFragment(two, two.length, () => n++), false);
  assert.equal(n, 1);
  // Never reads past the buffer, whatever length it is told.
  assert.equal(forEachFragment(d, d.length + 100, () => {}), true);
});

Deno.test("forEachEntry refuses entries that are too short, too long or past the end", () => {
  const body = new Uint8Array(8);
  new DataView(body.buffer).setUint32(0, 100000);
  assert.equal(forEachEntry(body, 8, () => {}), false, "entry longer than the body");
  const tiny = entry(23, 1);
  assert.equal(forEachEntry(tiny, tiny.length, () => {}), false, "shorter than vnet + Ethernet");
  const two = new Uint8Array([...entry(24, 1), ...entry(30, 2)]);
  const lens: number[] = [];
  assert.equal(forEachEntry(two, two.length, (_o, len) => lens.push(len)), true);
  assert.deepEqual(lens, [24, 30]);
  assert.equal(forEachEntry(two, two.length + 50, () => {}), true, "bounded by the buffer");
  assert.equal(
    writeFragments(
      new Uint8Array(50),
      0,
      hdr(),
      planFragments(64, 1400, false),
      [entry(60, 1)],
      1400,
      [],
    ),
    -1,
    "no room",
  );
});

Deno.test("the header carries sender, origin, destination or broadcast, and hops left", () => {
  const name = fc.uint8Array({ minLength: 6, maxLength: 6 });
  fc.assert(
    fc.property(
      name,
      name,
      fc.option(name),
      fc.integer({ min: 0, max: 255 }),
      fc.boolean(),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      (sender, origin, dest, hops, encrypted, seq) => {
        const h = hdr({ sender, origin, dest, hops, encrypted, seq });
        const [d] = messageDatagrams(h, [entry(60, 1)], encrypted ? KEY : null, 1400);
        let seen = 0;
        assert.ok(forEachFragment(d, d.length, (f) => {
          seen++;
          assert.deepEqual(d.slice(f.senderOff, f.senderOff + 6), sender);
          assert.deepEqual(d.slice(f.originOff, f.originOff + 6), origin);
          assert.equal(f.broadcast, dest === null);
          assert.deepEqual(d.slice(f.destOff, f.destOff + 6), dest ?? new Uint8Array(6));
          assert.equal(f.hops, hops);
          assert.equal(f.encrypted, encrypted);
          assert.equal(f.seq, seq);
        }));
        assert.equal(seen, 1);
      },
    ),
    { numRuns: 200 },
  );
  for (const hops of [-1, 256, 1.5]) {
    assert.throws(
      () => writeFragmentHeader(new Uint8Array(64), 0, hdr({ hops }), 0, 1, 0),
      SleeveFormatError,
    );
  }
});
