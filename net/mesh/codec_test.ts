import assert from "node:assert/strict";
import fc from "fast-check";
import {
  CodecError,
  decodeMessage,
  encodeMessage,
  frame,
  FrameReader,
  MAX_HOPS,
  type Message,
  Tag,
} from "./codec.ts";

const A = "02:00:00:00:00:0a", B = "02:00:00:00:00:0b";
const data = fc.uint8Array({ maxLength: 64 });
const message: fc.Arbitrary<Message> = fc.oneof(
  fc.constant({ tag: Tag.heartbeat }),
  fc.record({
    tag: fc.constant(Tag.identity),
    identity: fc.record({
      name: fc.constantFrom(A, B),
      nickname: fc.string({ maxLength: 64 }),
      uid: fc.constantFrom("0123456789abcdef"),
      port: fc.integer({ min: 1, max: 65535 }),
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
      const r = new FrameReader(100);
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

Deno.test("codec: an oversized frame is refused from its length alone", () => {
  const r = new FrameReader(1024);
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, 1025);
  assert.throws(() => r.push(head), /frame of 1025 bytes exceeds the limit of 1024/);
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
