import assert from "node:assert/strict";
import { fragNeeded, inetChecksum, isIpv4DontFragment } from "./icmp.ts";

function bigUdpFrame(len: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set([2, 0, 0, 0, 0, 2], 0); // dst
  f.set([2, 0, 0, 0, 0, 1], 6); // src
  f[12] = 0x08;
  const ip = 14;
  f[ip] = 0x45;
  f[ip + 2] = (len - 14) >> 8;
  f[ip + 3] = (len - 14) & 0xff;
  f[ip + 6] = 0x40; // DF
  f[ip + 8] = 64;
  f[ip + 9] = 17;
  f.set([10, 0, 0, 1], ip + 12);
  f.set([10, 0, 0, 2], ip + 16);
  const s = inetChecksum(f, ip, ip + 20);
  f[ip + 10] = s >> 8;
  f[ip + 11] = s & 0xff;
  f.set([0x12, 0x34, 0x56, 0x78], ip + 20);
  return f;
}

Deno.test("fragNeeded answers a too-large DF packet with ICMP 3/4 carrying the MTU", () => {
  const f = bigUdpFrame(1514);
  assert.equal(isIpv4DontFragment(f), true);
  const r = fragNeeded(f, 1400)!;
  assert.deepEqual([...r.subarray(0, 6)], [2, 0, 0, 0, 0, 1], "back to the sender's MAC");
  assert.deepEqual([...r.subarray(6, 12)], [2, 0, 0, 0, 0, 2]);
  const ip = 14;
  assert.deepEqual([...r.subarray(ip + 12, ip + 20)], [10, 0, 0, 2, 10, 0, 0, 1]);
  assert.equal(r[ip + 9], 1, "ICMP");
  assert.equal(inetChecksum(r, ip, ip + 20), 0, "valid IP checksum");
  const c = ip + 20;
  assert.equal(r[c], 3);
  assert.equal(r[c + 1], 4);
  assert.equal((r[c + 6] << 8) | r[c + 7], 1400);
  assert.equal(inetChecksum(r, c, r.length), 0, "valid ICMP checksum");
  assert.deepEqual(
    [...r.subarray(c + 8, c + 8 + 28)],
    [...f.subarray(14, 14 + 28)],
    "quotes header + 8",
  );
  assert.equal(r.length, 14 + 20 + 8 + 28);
});

Deno.test("fragNeeded ignores non-IPv4 frames and ICMP errors", () => {
  const arp = bigUdpFrame(60);
  arp[13] = 0x06;
  assert.equal(fragNeeded(arp, 1400), null);
  const icmpErr = bigUdpFrame(1514);
  icmpErr[14 + 9] = 1;
  icmpErr[14 + 20] = 3;
  assert.equal(fragNeeded(icmpErr, 1400), null);
});
