import assert from "node:assert/strict";
import fc from "fast-check";
import {
  CodecError,
  decodeMessage,
  encodeMessage,
  frame,
  FrameBudget,
  FrameReader,
  MAX_HOPS,
  type Message,
  Tag,
} from "./codec.ts";

const A = "02:00:00:00:00:0a", B = "02:00:00:00:00:0b";
const data = fc.uint8Array({ maxLength: 64 });
const message: fc.Arbitrary<Message> = fc.oneof(
  fc.constant({ tag: Tag.heartbeat }),
  fc.constant({ tag: Tag.rekey }),
  fc.record({
    tag: fc.constant(Tag.identity),
    identity: fc.record({
      name: fc.constantFrom(A, B),
      nickname: fc.string({ maxLength: 64 }),
      uid: fc.constantFrom("0123456789abcdef"),
      port: fc.integer({ min: 1, max: 65535 }),
      key: fc.constant("A".repeat(43)),
      sig: fc.constant("b".repeat(86)),
    }).map((i) => ({ ...i })),
  }),
  fc.record({ tag: fc.constant(Tag.gossip), channel: fc.constantFrom("topology", "ipam"), data }),
  fc.record({
    tag: fc.constant(Tag.broadcast),
    channel: fc.constant("topology"),
    source: fc.constantFrom(A, B),
    data,
  }),
  fc.record({
    tag: fc.constant(Tag.digest),
    channel: fc.constant("topology"),
    reply: fc.boolean(),
    data,
  }),
  fc.record({
    tag: fc.constant(Tag.unicast),
    channel: fc.constant("ipam"),
    source: fc.constant(A),
    dest: fc.constant(B),
    hops: fc.integer({ min: 0, max: MAX_HOPS }),
    data,
  }),
).map((m) => ({ ...m }) as Message);

Deno.test("codec: every message survives encoding", () => {
  fc.assert(fc.property(message, (m) => assert.deepEqual(decodeMessage(encodeMessage(m)), m)));
});

Deno.test("codec: garbage and mutated messages decode or fail with CodecError, nothing else", () => {
  const mutated = fc.tuple(message, fc.nat(), fc.integer({ min: 0, max: 255 })).map(
    ([m, i, v]) => {
      const b = encodeMessage(m);
      b[i % b.length] = v;
      return b;
    },
  );
  const truncated = fc.tuple(message, fc.nat()).map(([m, n]) => {
    const b = encodeMessage(m);
    return b.subarray(0, n % (b.length + 1));
  });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 80 }), mutated, truncated), (b) => {
      try {
        decodeMessage(b);
      } catch (e) {
        assert.ok(e instanceof CodecError, String(e));
      }
    }),
    { numRuns: 3000 },
  );
});

Deno.test("codec: frames come out whole however the stream is split", () => {
  fc.assert(fc.property(
    fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }),
    fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1 }),
    (payloads, cuts) => {
      const stream = payloads.map(frame).reduce((a, b) => {
        const o = new Uint8Array(a.length + b.length);
        o.set(a);
        o.set(b, a.length);
        return o;
      }, new Uint8Array());
      const r = new FrameReader(() => 100);
      const out: Uint8Array[] = [];
      for (let o = 0, i = 0; o < stream.length; i++) {
        const n = cuts[i % cuts.length];
        out.push(...r.push(stream.subarray(o, o + n)));
        o += n;
      }
      assert.deepEqual(out, payloads);
      assert.equal(r.pending, 0);
    },
  ));
});

Deno.test("codec: an oversized frame is refused from its length alone; the limit is asked each time", () => {
  let limit = 1024;
  const r = new FrameReader(() => limit);
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, 1025);
  assert.throws(
    () => r.push(head),
    (e) =>
      e instanceof CodecError && e.refusal === "frame-too-large" &&
      /1025 bytes exceeds/.test(e.message),
  );
  limit = 2048;
  const r2 = new FrameReader(() => limit);
  assert.deepEqual(r2.push(head), []);
  assert.equal(r2.pendingLength, 1025);
});

Deno.test("codec: incomplete frames share one byte budget; a reader over it fails, and gives back", () => {
  const budget = new FrameBudget(100);
  const a = new FrameReader(() => 1000, () => budget);
  const b = new FrameReader(() => 1000, () => budget);
  const part = (n: number) => {
    const f = frame(new Uint8Array(500));
    return f.subarray(0, n);
  };
  assert.deepEqual(a.push(part(60)), []);
  assert.equal(budget.used, 60);
  assert.throws(
    () => b.push(part(60)),
    (e) => e instanceof CodecError && e.refusal === "frame-budget",
  );
  assert.equal(budget.used, 60, "the failed reader holds nothing");
  // A complete frame frees what its parts held.
  const whole = frame(new Uint8Array(10));
  const c = new FrameReader(() => 1000, () => budget);
  assert.equal(c.push(whole.subarray(0, 8)).length, 0);
  assert.equal(budget.used, 68);
  assert.equal(c.push(whole.subarray(8)).length, 1);
  assert.equal(budget.used, 60);
  a.release();
  assert.equal(budget.used, 0);
  // A reader whose budget changes (its peer became known) moves its charge over.
  const other = new FrameBudget(1000);
  let which = budget;
  const d = new FrameReader(() => 1000, () => which);
  d.push(part(50));
  assert.equal(budget.used, 50);
  which = other;
  d.push(new Uint8Array(0));
  assert.deepEqual([budget.used, other.used], [0, 50]);
});

Deno.test("codec: unknown tags, bad channel names and hop overflow are refused", () => {
  assert.throws(() => decodeMessage(new Uint8Array([99])), /unknown message tag 99/);
  assert.throws(() => encodeMessage({ tag: Tag.gossip, channel: "", data: new Uint8Array() }));
  const m = encodeMessage({
    tag: Tag.unicast,
    channel: "c",
    source: A,
    dest: B,
    hops: 0,
    data: new Uint8Array(),
  });
  m[m.length - 1] = MAX_HOPS + 1;
  assert.throws(() => decodeMessage(m), /exceeded/);
});
