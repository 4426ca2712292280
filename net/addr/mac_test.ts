import assert from "node:assert/strict";
import fc from "fast-check";
import { AddrError } from "./ipv4.ts";
import {
  formatMac,
  isBroadcastMac,
  isMac,
  isMulticastMac,
  localUnicastMac,
  parseMac,
} from "./mac.ts";

Deno.test("mac: parse/format round-trip, lower-case output", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (b) => {
      assert.deepEqual(parseMac(formatMac(b)), b);
    }),
  );
  assert.equal(formatMac(parseMac("AA:BB:0c:0D:ee:FF")), "aa:bb:0c:0d:ee:ff");
});

Deno.test("mac: rejects malformed input", () => {
  for (
    const bad of [
      "",
      "aa:bb:cc:dd:ee",
      "aa:bb:cc:dd:ee:ff:00",
      "aa-bb-cc-dd-ee-ff",
      "gg:bb:cc:dd:ee:ff",
      "a:bb:cc:dd:ee:ff",
    ]
  ) {
    assert.throws(() => parseMac(bad), AddrError, bad);
    assert.equal(isMac(bad), false);
  }
  assert.throws(() => formatMac(new Uint8Array(5)), AddrError);
});

Deno.test("mac: broadcast, multicast and locally administered unicast", () => {
  assert.ok(isBroadcastMac(parseMac("ff:ff:ff:ff:ff:ff")));
  assert.ok(isMulticastMac(parseMac("01:00:5e:01:01:01")));
  assert.ok(!isMulticastMac(parseMac("02:00:00:00:00:01")));
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 6, maxLength: 16 }), (seed) => {
      const m = localUnicastMac(seed);
      assert.equal(m[0] & 1, 0);
      assert.equal(m[0] & 2, 2);
    }),
  );
});
