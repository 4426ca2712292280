import assert from "node:assert/strict";
import fc from "fast-check";
import { formatIp, parseIp, parseIpPrefix } from "./ip.ts";

Deno.test("IPv6 text forms parse to the right bytes", () => {
  const cases: [string, string][] = [
    ["::", "00000000000000000000000000000000"],
    ["::1", "00000000000000000000000000000001"],
    ["fe80::1:2", "fe800000000000000000000000010002"],
    ["2001:db8:0:0:1:0:0:1", "20010db8000000000001000000000001"],
    ["::ffff:10.0.0.1", "00000000000000000000ffff0a000001"],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
  ];
  for (const [text, hex] of cases) {
    const ip = parseIp(text);
    assert.equal(ip.family, 6);
    assert.equal(Array.from(ip.bytes, (b) => b.toString(16).padStart(2, "0")).join(""), hex, text);
  }
});

Deno.test("IPv6 formatting is RFC 5952 canonical", () => {
  const cases: [string, string][] = [
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of equal runs
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group stays
    ["FE80:0:0:0:0:0:0:1", "fe80::1"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"], // the longest run
  ];
  for (const [text, want] of cases) assert.equal(formatIp(parseIp(text).bytes), want, text);
});

Deno.test("invalid addresses are refused", () => {
  for (
    const bad of [
      ":::",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "12345::",
      "g::1",
      "1:2:3:4:5:6:7",
      "1.2.3",
    ]
  ) {
    assert.throws(() => parseIp(bad), /invalid/, bad);
  }
});

Deno.test("property: formatted IPv6 parses back to the same bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
      assert.deepEqual(parseIp(formatIp(b)).bytes, b);
    }),
  );
});

Deno.test("prefixes: IPv4 and IPv6 ranges, 'default'", () => {
  assert.deepEqual(parseIpPrefix("10.32.0.0/12"), {
    family: 4,
    bytes: new Uint8Array([10, 32, 0, 0]),
    prefix: 12,
  });
  assert.equal(parseIpPrefix("fd00::/64").prefix, 64);
  assert.equal(parseIpPrefix("default").prefix, 0);
  assert.throws(() => parseIpPrefix("10.0.0.0/33"), /0\.\.32/);
  assert.throws(() => parseIpPrefix("fd00::/129"), /0\.\.128/);
  assert.throws(() => parseIpPrefix("10.0.0.0"), /missing/);
});
