import assert from "node:assert/strict";
import fc from "fast-check";
import { dstMacKey, macKeyFromString, macKeyToString, parseFrame, srcMacKey } from "./frame.ts";

function frame(dst: string, src: string, type: number): Uint8Array {
  const f = new Uint8Array(60);
  f.set(dst.split(":").map((h) => parseInt(h, 16)), 0);
  f.set(src.split(":").map((h) => parseInt(h, 16)), 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  return f;
}

Deno.test("parseFrame reads MACs, ethertype and the group bit", () => {
  const f = frame("ff:ff:ff:ff:ff:ff", "02:aa:bb:cc:dd:ee", 0x0806);
  assert.deepEqual(parseFrame(f), {
    dst: "ff:ff:ff:ff:ff:ff",
    src: "02:aa:bb:cc:dd:ee",
    ethertype: 0x0806,
    broadcast: true,
    multicast: false,
  });
  const m = parseFrame(frame("01:00:5e:01:01:01", "02:00:00:00:00:01", 0x0800));
  assert.equal(m.multicast, true);
  assert.equal(m.broadcast, false);
  const u = parseFrame(frame("fe:ff:ff:ff:ff:ff", "02:00:00:00:00:01", 0x0800));
  assert.equal(u.multicast || u.broadcast, false);
  assert.throws(() => parseFrame(new Uint8Array(10)), /shorter than an Ethernet header/);
});

Deno.test("MAC keys round-trip and agree with the bytes", () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 12, maxLength: 12 }), (b) => {
    const f = new Uint8Array(14);
    f.set(b);
    const dst = macKeyToString(dstMacKey(f));
    assert.equal(macKeyFromString(dst), dstMacKey(f));
    assert.equal(parseFrame(f).multicast || parseFrame(f).broadcast, (b[0] & 1) === 1);
    assert.equal(parseFrame(f).src, macKeyToString(srcMacKey(f)));
  }));
  assert.throws(() => macKeyFromString("zz:00:00:00:00:00"), /invalid MAC/);
});
