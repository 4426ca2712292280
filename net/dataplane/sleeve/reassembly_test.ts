import assert from "node:assert/strict";
import fc from "fast-check";
import {
  DEFAULT_HOPS,
  forEachFragment,
  type FragmentHeader,
  fragmentHeader,
  LEAD_PLAIN,
  MAX_WIRE,
  type MessageHeader,
  SLEEVE_FRAGMENT_HEADER,
} from "./format.ts";
import { Reassembler } from "./reassembly.ts";
import { entry, messageDatagrams } from "./testing/wire.ts";

const hdr = (over: Partial<MessageHeader> = {}): MessageHeader => ({
  encrypted: false,
  sender: new Uint8Array([2, 0x77, 0, 0, 0, 1]),
  keyId: new Uint8Array(8).fill(7),
  seq: 1,
  origin: new Uint8Array([2, 0x77, 0, 0, 0, 1]),
  dest: new Uint8Array([2, 0x77, 0, 0, 0, 2]),
  hops: DEFAULT_HOPS,
  ...over,
});

interface Frag {
  buf: Uint8Array;
  h: FragmentHeader;
}

function fragments(ds: Uint8Array[]): Frag[] {
  const out: Frag[] = [];
  for (const d of ds) {
    assert.ok(forEachFragment(d, d.length, (h) => out.push({ buf: d, h: { ...h } })));
  }
  return out;
}

function readTotal(f: Frag): number {
  return new DataView(f.buf.buffer, f.buf.byteOffset).getUint32(f.h.payloadOff);
}

/** Feeds one fragment as the receiver does: fragment 0 opens, the others are added. */
function feed(r: Reassembler, f: Frag, now = 0): Uint8Array | string | null {
  if (f.h.index === 0) return r.begin(f.buf, f.h, readTotal(f), now);
  const got = r.add(f.buf, f.h);
  if (got instanceof Uint8Array) {
    const w = r.header;
    return got.slice(w.payloadOff + LEAD_PLAIN, w.payloadOff + w.payloadLen);
  }
  return got;
}

/**
 * The reference: fragment 0 opens the message (a second one while open is a duplicate), a later
 * fragment counts only while it is open and new, and the message completes when every index has
 * arrived; then it is closed.
 */
function model(count: number, order: number[]): { completions: number; results: string[] } {
  let open: Set<number> | null = null;
  let completions = 0;
  const results: string[] = [];
  for (const i of order) {
    if (i === 0) {
      if (open) results.push("duplicate");
      else {
        open = new Set([0]);
        results.push("open");
      }
    } else if (!open) results.push("orphan");
    else if (open.has(i)) results.push("duplicate");
    else {
      open.add(i);
      if (open.size === count) {
        completions++;
        open = null;
        results.push("complete");
      } else results.push("waiting");
    }
  }
  return { completions, results };
}

Deno.test("reassembly of real permutations with duplicates matches the reference, byte for byte", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 24, max: 20_000 }),
      fc.integer({ min: 600, max: 3000 }),
      fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 255, maxLength: 255 }),
      fc.infiniteStream(fc.nat()),
      (n, segSize, copies, rnd) => {
        const body = entry(n, n & 0xff);
        const frags = fragments(messageDatagrams(hdr(), [body], null, segSize));
        const count = frags.length;
        fc.pre(count > 1);
        // Every index 1–3 times, in a uniformly random order.
        const order = frags.flatMap((_, i) => Array<number>(copies[i]).fill(i));
        const it = rnd[Symbol.iterator]();
        for (let i = order.length - 1; i > 0; i--) {
          const j = it.next().value % (i + 1);
          [order[i], order[j]] = [order[j], order[i]];
        }
        const r = new Reassembler();
        const want = model(count, order);
        let completions = 0;
        order.forEach((i, k) => {
          const got = feed(r, frags[i]);
          const kind = got instanceof Uint8Array
            ? "complete"
            : got === null
            ? (i === 0 ? "open" : "waiting")
            : got;
          assert.equal(kind, want.results[k], `step ${k}: index ${i} of ${count}`);
          if (got instanceof Uint8Array) {
            completions++;
            assert.deepEqual(got, body);
          }
        });
        assert.equal(completions, want.completions);
        assert.ok(completions <= Math.min(...copies.slice(0, count)));
        assert.equal(
          r.pending,
          want.results.lastIndexOf("open") > want.results.lastIndexOf("complete") ? 1 : 0,
        );
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("fragment 0 first, the rest in any order with duplicates: always exactly one message", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2000, max: 65_000 }),
      fc.func(fc.integer()),
      fc.array(fc.nat(300), { maxLength: 40 }),
      (n, key, dups) => {
        const body = entry(n, 5);
        const frags = fragments(messageDatagrams(hdr(), [body], null, 1400));
        const rest = frags.slice(1).sort((a, b) => key(a.h.index) - key(b.h.index));
        for (const d of dups) rest.splice(d % (rest.length + 1), 0, rest[d % rest.length]);
        const r = new Reassembler();
        const got = [frags[0], ...rest].map((f) => feed(r, f)).filter((x) =>
          x instanceof Uint8Array
        );
        assert.equal(got.length, 1);
        assert.deepEqual(got[0], body);
        assert.equal(r.pending, 0);
      },
    ),
    { numRuns: 100 },
  );
});

Deno.test("a relay's message and the origin's own, same sender and sequence, reassemble apart", () => {
  const r = new Reassembler();
  const own = fragments(messageDatagrams(hdr(), [entry(3000, 1)], null, 1400));
  const relayed = fragments(
    messageDatagrams(
      hdr({ origin: new Uint8Array([2, 7, 7, 7, 7, 7]) }),
      [entry(3000, 2)],
      null,
      1400,
    ),
  );
  const bodies: Uint8Array[] = [];
  for (let i = 0; i < own.length; i++) {
    for (const f of [own[i], relayed[i]]) {
      const b = feed(r, f);
      if (b instanceof Uint8Array) bodies.push(b);
    }
  }
  assert.deepEqual(bodies, [entry(3000, 1), entry(3000, 2)]);
});

Deno.test("fragments that do not fit the committed shape are refused, never written", () => {
  const frags = fragments(messageDatagrams(hdr(), [entry(5000, 1)], null, 1400));
  const r = new Reassembler();
  assert.equal(feed(r, frags[0]), null);
  const bent = (f: Frag, at: number, v: number): Frag => {
    const buf = f.buf.slice();
    buf[f.h.headerOff + at] = v;
    let h: FragmentHeader | undefined;
    forEachFragment(buf, buf.length, (x) => h = { ...x });
    return { buf, h: h ?? { ...f.h, payloadLen: (buf[40] << 8) | buf[41] } };
  };
  assert.equal(feed(r, bent(frags[1], 39, 5)), "shape", "another count");
  const short = { buf: frags[1].buf, h: { ...frags[1].h, payloadLen: frags[1].h.payloadLen - 1 } };
  assert.equal(feed(r, short), "shape", "a middle fragment of another length");
  const last = frags[3];
  assert.equal(
    feed(r, { buf: last.buf, h: { ...last.h, payloadLen: last.h.payloadLen - 1 } }),
    "shape",
  );
  assert.equal(feed(r, frags[0]), "duplicate");
  assert.equal(feed(r, frags[2]), null);
  assert.equal(feed(r, frags[2]), "duplicate");
  assert.equal(r.pending, 1);
});

Deno.test("fragment 0 with an impossible shape opens nothing", () => {
  const [f0] = fragments(messageDatagrams(hdr(), [entry(5000, 1)], null, 1400));
  const per = f0.h.payloadLen;
  const r = new Reassembler();
  for (
    const [total, count] of [
      [MAX_WIRE + 1, 255], // more than the largest message
      [per * 2, 3], // the last fragment would hold nothing
      [per * 3 + 1, 3], // more than three fragments hold
      [10, 1], // one fragment needs no reassembly
    ]
  ) {
    assert.equal(r.begin(f0.buf, { ...f0.h, count }, total, 0), "shape", `${total}, ${count}`);
  }
  assert.equal(r.begin(f0.buf, { ...f0.h, count: 3 }, per * 3, 0), null, "exactly full is fine");
});

Deno.test("security H1: fragment 0/131 of 1000 B, then 130/131 of 2000 B, is refused and throws nothing", () => {
  const r = new Reassembler();
  const d0 = new Uint8Array(SLEEVE_FRAGMENT_HEADER + 1000);
  const d1 = new Uint8Array(SLEEVE_FRAGMENT_HEADER + 2000);
  const h0: FragmentHeader = { ...fragmentHeader(), seq: 1, count: 131, payloadLen: 1000 };
  // 131 × 1000 B is more than any message: refused at fragment 0, nothing opened.
  assert.equal(r.begin(d0, h0, 131_000, 0), "shape");
  assert.equal(r.add(d1, { ...h0, index: 130, payloadLen: 2000 }), "orphan");
  // The same within the largest message: the oversized last fragment does not fit its shape.
  const h = { ...h0, count: 60 };
  assert.equal(r.begin(d0, h, 60_000, 0), null);
  assert.equal(r.add(d1, { ...h, index: 59, payloadLen: 2000 }), "shape");
  assert.equal(r.begin(d0, h, 60_000, 0), "duplicate");
  assert.equal(r.pending, 1);
});

Deno.test("memory is bounded per sender and in all, whatever fragment 0s arrive (security L1)", () => {
  const r = new Reassembler({ perSender: 4, total: 8, timeoutMs: 100 });
  const d = new Uint8Array(SLEEVE_FRAGMENT_HEADER + 60_000);
  const h: FragmentHeader = { ...fragmentHeader(), count: 2, payloadLen: 60_000 };
  // 300 first fragments of 60 KB from one sender (the review's 3.9 GB), then from 50 senders.
  for (let seq = 0; seq < 300; seq++) assert.equal(r.begin(d, { ...h, seq }, 65_000, 0), null);
  assert.equal(r.pending, 4, "per sender");
  for (let s = 0; s < 50; s++) {
    d[7] = s + 1;
    assert.equal(r.begin(d, { ...h, seq: 1000 + s }, 65_000, 0), null);
  }
  assert.equal(r.pending, 8, "in all");
  assert.ok(r.buffers <= 9, `buffers ${r.buffers}`);
  assert.ok(r.buffers * Reassembler.bufferBytes < 700_000);
  assert.equal(r.evicted, 300 - 4 + 50 - 4);
  assert.equal(r.expire(50), 0);
  assert.equal(r.expire(101), 8);
  assert.equal(r.pending, 0);
});
