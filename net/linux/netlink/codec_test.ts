import assert from "node:assert/strict";
import fc from "fast-check";
import { LinuxError } from "../errors.ts";
import {
  align4,
  decodeAttrs,
  decodeDoneError,
  decodeError,
  decodeMessages,
  MessageEncoder,
  NLA_F_NESTED,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSG_DONE,
  NLMSG_ERROR,
} from "./codec.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");

Deno.test("align4 rounds up to the next multiple of 4", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 8].map(align4), [0, 4, 4, 4, 4, 8, 8]);
});

Deno.test("header carries length, type, flags, seq and pid in host (little-endian) order", () => {
  const m = new MessageEncoder(16, 0x0605).finish(0x01020304, 7);
  assert.equal(hex(m), "10 00 00 00 10 00 05 06 04 03 02 01 07 00 00 00");
});

Deno.test("attributes are padded to 4 bytes; the length field excludes the padding", () => {
  const m = new MessageEncoder(16, 1).str(3, "ab").u8(7, 0xaa).u16(8, 0x1234).u16be(15, 4789)
    .finish(1);
  const body = m.subarray(16);
  assert.equal(
    hex(body),
    // len 7 ("ab\0"), pad 1 | len 5, pad 3 | len 6, pad 2 | len 6 big-endian 4789 = 0x12b5, pad 2
    "07 00 03 00 61 62 00 00 05 00 07 00 aa 00 00 00 06 00 08 00 34 12 00 00 06 00 0f 00 12 b5 00 00",
  );
  assert.equal(new DataView(m.buffer).getUint32(0, true), m.length);
});

Deno.test("a family header is padded and precedes the attributes", () => {
  const m = new MessageEncoder(16, 1).raw(new Uint8Array([1, 2, 3, 4, 5])).u32(4, 1500).finish(1);
  assert.equal(hex(m.subarray(16)), "01 02 03 04 05 00 00 00 08 00 04 00 dc 05 00 00");
});

Deno.test("nested attributes wrap their children; the NESTED flag only when asked", () => {
  const enc = new MessageEncoder(16, 1);
  enc.nest(18, () => {
    enc.str(1, "veth");
    enc.nest(2, () => enc.u32(1, 9), true);
  });
  const body = enc.finish(1).subarray(16);
  // outer: 4 + 12 ("veth\0" padded to 8 + 4) + 12 (inner nest of one u32 attr)
  assert.equal(new DataView(body.buffer, body.byteOffset).getUint16(0, true), 4 + 12 + 12);
  assert.equal(new DataView(body.buffer, body.byteOffset).getUint16(2, true), 18);
  const outer = decodeAttrs(body);
  assert.equal(outer.list.length, 1);
  assert.equal(outer.list[0].nested, false);
  const inner = outer.nested(18);
  assert.equal(inner.str(1), "veth");
  assert.equal(inner.list[1].nested, true);
  assert.equal(inner.list[1].type, 2, "the NESTED bit is not part of the type");
  assert.equal(inner.nested(2).u32(1), 9);
  assert.equal(
    new DataView(body.buffer, body.byteOffset).getUint16(4 + 12 + 2, true),
    2 | NLA_F_NESTED,
  );
});

Deno.test("the encoder grows past its initial buffer", () => {
  const enc = new MessageEncoder(16, 1);
  for (let i = 0; i < 200; i++) enc.u32(i + 1, i);
  const attrs = decodeAttrs(enc.finish(1).subarray(16));
  assert.equal(attrs.list.length, 200);
  assert.equal(attrs.u32(200), 199);
});

Deno.test("property: any list of attributes round-trips through encode/decode", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          type: fc.integer({ min: 1, max: 0x3fff }),
          data: fc.uint8Array({ maxLength: 70 }),
        }),
        { maxLength: 20 },
      ),
      (attrs) => {
        const enc = new MessageEncoder(20, 1);
        for (const a of attrs) enc.attr(a.type, a.data);
        const msg = enc.finish(5);
        assert.equal(msg.length % 4, 0);
        const [m] = decodeMessages(msg);
        const got = decodeAttrs(m.payload).list;
        assert.deepEqual(
          got.map((a) => [a.type, Array.from(a.data)]),
          attrs.map((a) => [a.type, Array.from(a.data)]),
        );
      },
    ),
  );
});

/** A multipart dump as the kernel sends it: several messages back to back, then NLMSG_DONE. */
function dumpBuffer(seq: number, count: number): Uint8Array {
  const parts = [];
  for (let i = 0; i < count; i++) {
    parts.push(new MessageEncoder(16, 2).raw(new Uint8Array(16)).str(3, `if${i}`).finish(seq));
  }
  const done = new MessageEncoder(NLMSG_DONE, 2).raw(new Uint8Array(4)).finish(seq);
  parts.push(done);
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

Deno.test("a dump buffer splits into its messages, the last being NLMSG_DONE", () => {
  const msgs = decodeMessages(dumpBuffer(77, 3));
  assert.deepEqual(msgs.map((m) => [m.type, m.seq]), [[16, 77], [16, 77], [16, 77], [
    NLMSG_DONE,
    77,
  ]]);
  assert.deepEqual(msgs.slice(0, 3).map((m) => decodeAttrs(m.payload, 16).str(3)), [
    "if0",
    "if1",
    "if2",
  ]);
  assert.equal(decodeDoneError(msgs[3]), 0);
});

Deno.test("truncated messages and attributes are rejected with a precise error", () => {
  const buf = dumpBuffer(1, 2);
  assert.throws(() => decodeMessages(buf.subarray(0, buf.length - 2)), (e: unknown) => {
    assert.ok(e instanceof LinuxError);
    assert.equal(e.code, "EINVAL");
    assert.match(e.message, /parse netlink message failed: EINVAL .*length/);
    return true;
  });
  const attr = new Uint8Array([40, 0, 3, 0, 1, 2, 3, 4]); // claims 40 bytes, has 8
  assert.throws(() => decodeAttrs(attr), /attribute at offset 0 has length 40, 8 left/);
  assert.throws(
    () => decodeAttrs(new Uint8Array([5, 0, 1, 0, 1, 0, 0, 0])).u32(1), // a 1-byte "u32"
    /has 1 bytes, need 4/,
  );
});

/** An NLMSG_ERROR as the kernel builds it with NETLINK_CAP_ACK and NETLINK_EXT_ACK. */
function errorMessage(errno: number, text?: string, capped = true): Uint8Array {
  const request = new MessageEncoder(16, 0x605).raw(new Uint8Array(16)).str(3, "veth0").finish(9);
  const flags = (capped ? NLM_F_CAPPED : 0) | (text ? NLM_F_ACK_TLVS : 0);
  const e = new MessageEncoder(NLMSG_ERROR, flags);
  const code = new Uint8Array(4);
  new DataView(code.buffer).setInt32(0, -errno, true);
  e.raw(code).raw(capped ? request.subarray(0, 16) : request);
  if (text) e.str(1, text);
  return e.finish(9);
}

Deno.test("NLMSG_ERROR: errno is negated; extended-ack text found after a capped or full echo", () => {
  const [ack] = decodeMessages(errorMessage(0));
  assert.deepEqual(decodeError(ack), { errno: 0 });
  const [plain] = decodeMessages(errorMessage(17));
  assert.deepEqual(decodeError(plain), { errno: 17 });
  const [capped] = decodeMessages(errorMessage(95, "Unknown device type"));
  assert.deepEqual(decodeError(capped), { errno: 95, message: "Unknown device type" });
  const [full] = decodeMessages(errorMessage(22, "Invalid prefix", false));
  assert.deepEqual(decodeError(full), { errno: 22, message: "Invalid prefix" });
});

Deno.test("an error becomes a LinuxError message naming op, object, errno name and kernel text", () => {
  const e = new LinuxError("create veth", 17, "vethwepl1234");
  assert.equal(e.message, 'create veth "vethwepl1234" failed: EEXIST (File exists)');
  assert.equal(e.code, "EEXIST");
  assert.equal(e.errno, 17);
  assert.equal(e.object, "vethwepl1234");
  const k = new LinuxError("create dummy", 95, "d0", "Unknown device type");
  assert.equal(
    k.message,
    'create dummy "d0" failed: EOPNOTSUPP (Operation not supported: Unknown device type)',
  );
  assert.equal(new LinuxError("list links", 4242).message, "list links failed: E4242 (errno 4242)");
});

Deno.test("NLMSG_DONE carrying a negative code reports the dump's failure", () => {
  const code = new Uint8Array(4);
  new DataView(code.buffer).setInt32(0, -16, true);
  const [done] = decodeMessages(new MessageEncoder(NLMSG_DONE, 2).raw(code).finish(1));
  assert.equal(decodeDoneError(done), 16);
});
