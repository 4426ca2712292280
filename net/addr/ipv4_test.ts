import assert from "node:assert/strict";
import fc from "fast-check";
import {
  addIPv4,
  AddrError,
  broadcastOf,
  canonical,
  cidrContains,
  cidrContainsCidr,
  cidrSize,
  cidrsOverlap,
  formatCidr,
  formatIPv4,
  ipv4FromBytes,
  ipv4ToBytes,
  isIPv4,
  networkOf,
  nextIPv4,
  parseCidr,
  parseIPv4,
  prefixMask,
} from "./ipv4.ts";

Deno.test("ipv4: parse and format round-trip over the whole space", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
      assert.equal(parseIPv4(formatIPv4(n)), n);
      assert.equal(ipv4FromBytes(ipv4ToBytes(n)), n);
    }),
  );
  assert.equal(parseIPv4("0.0.0.0"), 0);
  assert.equal(parseIPv4("255.255.255.255"), 0xffffffff);
  assert.equal(parseIPv4("10.32.0.1"), 0x0a200001);
});

Deno.test("ipv4: rejects malformed addresses with the input in the message", () => {
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.0.0.1",
      "01.2.3.4",
      "1.2.3.-4",
      "a.b.c.d",
      "1.2.3.4 ",
      " 1.2.3.4",
      "1..3.4",
      "1.2.3.4/8",
      "１.2.3.4",
    ]
  ) {
    assert.throws(() => parseIPv4(bad), (e: unknown) => {
      return e instanceof AddrError && e.message.includes(`"${bad}"`);
    }, bad);
    assert.equal(isIPv4(bad), false);
  }
});

Deno.test("ipv4: masks for every prefix length", () => {
  assert.equal(prefixMask(0), 0);
  assert.equal(prefixMask(8), 0xff000000);
  assert.equal(prefixMask(12), 0xfff00000);
  assert.equal(prefixMask(32), 0xffffffff);
  for (let p = 0; p <= 32; p++) {
    const m = prefixMask(p);
    // exactly p leading ones
    assert.equal(m.toString(2).replace(/0+$/, "").length, p === 0 ? 0 : p);
  }
  assert.throws(() => prefixMask(33), AddrError);
  assert.throws(() => prefixMask(-1), AddrError);
  assert.throws(() => prefixMask(1.5), AddrError);
});

Deno.test("cidr: parse, canonical, network, broadcast, size", () => {
  const c = parseCidr("10.32.1.5/12");
  assert.deepEqual(c, { ip: parseIPv4("10.32.1.5"), prefix: 12 });
  assert.equal(formatCidr(canonical(c)), "10.32.0.0/12");
  assert.equal(formatIPv4(networkOf(c)), "10.32.0.0");
  assert.equal(formatIPv4(broadcastOf(c)), "10.47.255.255");
  assert.equal(cidrSize(c), 1048576);
  assert.equal(cidrSize(parseCidr("0.0.0.0/0")), 2 ** 32);
  assert.equal(cidrSize(parseCidr("1.2.3.4/32")), 1);
  assert.equal(formatIPv4(broadcastOf(parseCidr("0.0.0.0/0"))), "255.255.255.255");
});

Deno.test("cidr: rejects malformed input", () => {
  for (
    const bad of [
      "10.0.0.0",
      "10.0.0.0/",
      "10.0.0.0/33",
      "10.0.0.0/-1",
      "10.0.0/8",
      "/8",
      "10.0.0.0/8/8",
      "10.0.0.0/08x",
    ]
  ) {
    assert.throws(() => parseCidr(bad), AddrError, bad);
  }
});

Deno.test("cidr: containment and overlap", () => {
  const r = parseCidr("10.32.0.0/12");
  assert.ok(cidrContains(r, parseIPv4("10.32.0.0")));
  assert.ok(cidrContains(r, parseIPv4("10.47.255.255")));
  assert.ok(!cidrContains(r, parseIPv4("10.48.0.0")));
  assert.ok(!cidrContains(r, parseIPv4("10.31.255.255")));
  assert.ok(cidrContains(parseCidr("0.0.0.0/0"), parseIPv4("255.255.255.255")));
  assert.ok(cidrContainsCidr(r, parseCidr("10.40.0.0/16")));
  assert.ok(!cidrContainsCidr(parseCidr("10.40.0.0/16"), r));
  assert.ok(cidrsOverlap(r, parseCidr("10.0.0.0/8")));
  assert.ok(!cidrsOverlap(r, parseCidr("10.48.0.0/12")));
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 32 }),
      (ip, p) => {
        const c = { ip, prefix: p };
        assert.ok(cidrContains(c, networkOf(c)));
        assert.ok(cidrContains(c, broadcastOf(c)));
        assert.equal(broadcastOf(c) - networkOf(c) + 1, cidrSize(c));
      },
    ),
  );
});

Deno.test("ipv4: next and add", () => {
  assert.equal(formatIPv4(nextIPv4(parseIPv4("10.0.0.255"))), "10.0.1.0");
  assert.equal(nextIPv4(0xffffffff), 0);
  assert.equal(formatIPv4(addIPv4(parseIPv4("10.0.1.0"), -1)), "10.0.0.255");
  assert.throws(() => addIPv4(0xffffffff, 1), AddrError);
  assert.throws(() => addIPv4(0, -1), AddrError);
});
