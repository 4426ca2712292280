import assert from "node:assert/strict";
import fc from "fast-check";
import {
  DEFAULT_HOPS,
  forEachEntry,
  forEachFragment,
  type FragmentHeader,
  MAX_GSO_BYTES,
  type MessageHeader,
  Reassembler,
  SLEEVE_FRAGMENT_HEADER,
  SleeveFormatError,
  writeFragments,
} from "./format.ts";

const hdr: MessageHeader = {
  encrypted: false,
  sender: new Uint8Array([2, 1, 2, 3, 4, 5]),
  keyId: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
  seq: 0x1_0000_0002,
  origin: new Uint8Array([2, 1, 2, 3, 4, 5]),
  dest: new Uint8Array([2, 9, 9, 9, 9, 9]),
  hops: DEFAULT_HOPS,
};

function entry(n: number, fill: number): Uint8Array {
  const e = new Uint8Array(4 + n);
  new DataView(e.buffer).setUint32(0, n);
  e.fill(fill, 4);
  return e;
}

/** Splits the sends into datagrams the way UDP GSO does (segSize each, last shorter). */
function datagrams(out: Uint8Array, sends: number[], segSize: number): Uint8Array[] {
  const d: Uint8Array[] = [];
  for (let i = 0; i < sends.length; i += 2) {
    const [start, len] = [sends[i], sends[i + 1]];
    assert.ok(len <= MAX_GSO_BYTES);
    for (let o = 0; o < len; o += segSize) {
      d.push(out.slice(start + o, start + Math.min(len, o + segSize)));
    }
  }
  return d;
}

Deno.test("a small message is one datagram and passes through without reassembly", () => {
  const out = new Uint8Array(4096);
  const sends: number[] = [];
  const end = writeFragments(out, 0, hdr, [entry(60, 1), entry(100, 2)], 1400, sends);
  assert.equal(end, SLEEVE_FRAGMENT_HEADER + 168);
  assert.deepEqual(sends, [0, end]);
  const r = new Reassembler();
  const frames: number[] = [];
  assert.ok(forEachFragment(out, end, (h: FragmentHeader) => {
    assert.equal(h.seq, hdr.seq);
    assert.equal(h.idHi, 0x01020304);
    const body = r.add(out, h, 0)!;
    assert.ok(forEachEntry(body, body.length, (_off, len) => frames.push(len)));
  }));
  assert.deepEqual(frames, [60, 100]);
});

Deno.test("a superframe is cut into MTU-sized fragments, GSO-shaped, and reassembled in any order", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 24, max: 65559 }),
      fc.integer({ min: 600, max: 9000 }),
      fc.boolean(),
      (n, segSize, shuffle) => {
        const e = entry(n, 0);
        for (let i = 4; i < e.length; i++) e[i] = i & 0xff;
        const out = new Uint8Array(200_000);
        const sends: number[] = [];
        const end = writeFragments(
          out,
          0,
          hdr,
          [e.subarray(0, 10), e.subarray(10)],
          segSize,
          sends,
        );
        assert.ok(end > 0);
        const ds = datagrams(out, sends, segSize);
        for (const d of ds) assert.ok(d.length <= segSize, "no datagram above the segment size");
        if (shuffle) ds.reverse();
        const r = new Reassembler();
        let body: Uint8Array | null = null;
        for (const d of ds) {
          assert.ok(forEachFragment(d, d.length, (h) => {
            const b = r.add(d, h, 0);
            if (b) body = b.slice();
          }));
        }
        assert.ok(body, "complete");
        assert.deepEqual(body, e);
        assert.equal(r.pending, 0);
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("GRO-coalesced datagrams split by their own lengths", () => {
  const out = new Uint8Array(100_000);
  const sends: number[] = [];
  const end = writeFragments(out, 0, hdr, [entry(5000, 9)], 1400, sends);
  assert.equal(sends.length, 2, "one GSO send");
  const r = new Reassembler();
  let got: Uint8Array | null = null;
  assert.ok(forEachFragment(out, end, (h) => {
    got = r.add(out, h, 0) ?? got;
  }));
  assert.equal(got!.length, 5004);
});

Deno.test("without UDP GSO every fragment is its own send", () => {
  const out = new Uint8Array(100_000);
  const sends: number[] = [];
  writeFragments(out, 0, hdr, [entry(5000, 9)], 1400, sends, false);
  assert.equal(sends.length / 2, 4, "5004 bytes in 1358-byte fragments");
  for (let i = 1; i < sends.length; i += 2) assert.ok(sends[i] <= 1400);
});

Deno.test("malformed input is refused, not trusted", () => {
  const out = new Uint8Array(4096);
  const sends: number[] = [];
  const end = writeFragments(out, 0, hdr, [entry(60, 1)], 1400, sends);
  assert.equal(forEachFragment(out, end - 1, () => {}), false, "truncated");
  const bad = out.slice(0, end);
  bad[0] = 0;
  assert.equal(forEachFragment(bad, end, () => {}), false, "magic");
  const body = new Uint8Array(8);
  new DataView(body.buffer).setUint32(0, 100000);
  assert.equal(forEachEntry(body, 8, () => {}), false, "entry longer than the body");
  assert.equal(writeFragments(new Uint8Array(50), 0, hdr, [entry(60, 1)], 1400, []), -1, "no room");
  const flags = out.slice(0, end);
  flags[1] = 4;
  assert.equal(forEachFragment(flags, end, () => {}), false, "unknown flag bits");
  const reserved = out.slice(0, end);
  reserved[37] = 1;
  assert.equal(forEachFragment(reserved, end, () => {}), false, "reserved byte not zero");
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
        const h: MessageHeader = { ...hdr, sender, origin, dest, hops, encrypted, seq };
        const out = new Uint8Array(4096);
        const end = writeFragments(out, 0, h, [entry(60, 1)], 1400, []);
        let seen = 0;
        assert.ok(forEachFragment(out, end, (f) => {
          seen++;
          assert.deepEqual(out.slice(f.senderOff, f.senderOff + 6), sender);
          assert.deepEqual(out.slice(f.originOff, f.originOff + 6), origin);
          assert.equal(f.broadcast, dest === null);
          assert.deepEqual(
            out.slice(f.destOff, f.destOff + 6),
            dest ?? new Uint8Array(6),
            "a broadcast's destination is zeros",
          );
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
      () => writeFragments(new Uint8Array(4096), 0, { ...hdr, hops }, [entry(60, 1)], 1400, []),
      SleeveFormatError,
    );
  }
});

Deno.test("a relay's message and the origin's own, same sender and sequence, reassemble apart", () => {
  const r = new Reassembler();
  const mk = (origin: Uint8Array, fill: number) => {
    const out = new Uint8Array(10_000);
    const end = writeFragments(out, 0, { ...hdr, origin }, [entry(3000, fill)], 1400, []);
    const frags: { out: Uint8Array; h: FragmentHeader }[] = [];
    forEachFragment(out, end, (h) => frags.push({ out, h: { ...h } }));
    return frags;
  };
  const own = mk(hdr.sender, 1);
  const relayed = mk(new Uint8Array([2, 7, 7, 7, 7, 7]), 2);
  const bodies: number[] = [];
  for (let i = 0; i < own.length; i++) {
    for (const f of [own[i], relayed[i]]) {
      const b = r.add(f.out, f.h, 0);
      if (b) bodies.push(b[4]);
    }
  }
  assert.deepEqual(bodies.sort(), [1, 2]);
});

Deno.test("Reassembler bounds memory: oldest partial message goes, stale ones expire", () => {
  const r = new Reassembler(2, 100);
  const mk = (seq: number) => {
    const out = new Uint8Array(10_000);
    const sends: number[] = [];
    const end = writeFragments(out, 0, { ...hdr, seq }, [entry(3000, 1)], 1400, sends);
    const frags: FragmentHeader[] = [];
    forEachFragment(out, end, (h) => frags.push({ ...h }));
    return { out, frags };
  };
  for (const seq of [1, 2, 3]) {
    const m = mk(seq);
    assert.equal(r.add(m.out, m.frags[0], 0), null);
  }
  assert.equal(r.pending, 2);
  assert.equal(r.dropped, 1);
  r.expire(1000);
  assert.equal(r.pending, 0);
});
