import assert from "node:assert/strict";
import {
  decodeEchoReply,
  encodeEchoRequest,
  inetChecksum,
  openIcmpSocket,
  receiveEchoReply,
  sendEchoRequest,
} from "./icmp.ts";
import { closeFd, waitReadable } from "./mod.ts";

/** An IPv4 header (20 bytes, protocol ICMP) from `src` in front of an ICMP message. */
function ipv4(src: number[], icmp: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + icmp.length);
  p[0] = 0x45;
  p[9] = 1;
  p.set(src, 12);
  p.set([127, 0, 0, 1], 16);
  p.set(icmp, 20);
  return p;
}

/** The reply a peer sends for `request`: type 0, checksum recomputed. */
function replyTo(request: Uint8Array): Uint8Array {
  const r = request.slice();
  r[0] = 0;
  r[2] = r[3] = 0;
  new DataView(r.buffer).setUint16(2, inetChecksum(r), false);
  return r;
}

Deno.test("icmp checksum: RFC 1071's worked example, odd lengths, and a message checks to 0", () => {
  // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2, so the checksum is 220d.
  assert.equal(
    inetChecksum(new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])),
    0x220d,
  );
  assert.equal(inetChecksum(new Uint8Array([0xff])), 0x00ff);
  const msg = encodeEchoRequest(0x1234, 7, new Uint8Array([1, 2, 3]));
  assert.equal(inetChecksum(msg), 0);
});

Deno.test("icmp echo request: golden bytes", () => {
  // As `ping -p` would send id 0x1234 seq 1 with no payload: 08 00 csum 12 34 00 01.
  assert.deepEqual(Array.from(encodeEchoRequest(0x1234, 1)), [8, 0, 0xe5, 0xca, 0x12, 0x34, 0, 1]);
  assert.throws(() => encodeEchoRequest(70000, 1), /identifier must be 0\.\.65535/);
  assert.throws(() => encodeEchoRequest(1, -1), /sequence number must be 0\.\.65535/);
});

Deno.test("icmp echo reply: decoded with its source; anything else is null", () => {
  const req = encodeEchoRequest(0xbeef, 42, new Uint8Array([9, 9]));
  const reply = decodeEchoReply(ipv4([10, 32, 0, 2], replyTo(req)));
  assert.deepEqual(reply, {
    from: "10.32.0.2",
    id: 0xbeef,
    seq: 42,
    payload: new Uint8Array([9, 9]),
  });
  // A request (type 8), a corrupted checksum, a truncated packet, not IPv4, not ICMP.
  assert.equal(decodeEchoReply(ipv4([10, 0, 0, 1], req)), null);
  const bad = replyTo(req);
  bad[6] ^= 1;
  assert.equal(decodeEchoReply(ipv4([10, 0, 0, 1], bad)), null);
  assert.equal(decodeEchoReply(ipv4([10, 0, 0, 1], replyTo(req)).subarray(0, 24)), null);
  const v6 = ipv4([10, 0, 0, 1], replyTo(req));
  v6[0] = 0x65;
  assert.equal(decodeEchoReply(v6), null);
  const udp = ipv4([10, 0, 0, 1], replyTo(req));
  udp[9] = 17;
  assert.equal(decodeEchoReply(udp), null);
  // IPv4 options (IHL 6): the ICMP message starts after them.
  const opts = new Uint8Array(24 + req.length);
  opts.set(ipv4([10, 0, 0, 3], new Uint8Array(0)).subarray(0, 20));
  opts[0] = 0x46;
  opts.set(replyTo(req), 24);
  assert.equal(decodeEchoReply(opts)?.from, "10.0.0.3");
});

Deno.test({
  name: "icmp socket: an echo to loopback comes back with our identifier and sequence number",
  ignore: Deno.uid() !== 0,
  fn() {
    const fd = openIcmpSocket();
    try {
      const id = crypto.getRandomValues(new Uint16Array(1))[0];
      sendEchoRequest(fd, "127.0.0.1", id, 5);
      const deadline = Date.now() + 2000;
      let reply = null;
      while (!reply && Date.now() < deadline) {
        // Other replies on this host (someone else's ping) are skipped by identifier.
        if (waitReadable(fd, 100)) {
          const r = receiveEchoReply(fd);
          if (r?.id === id) reply = r;
        }
      }
      assert.deepEqual(reply && { from: reply.from, seq: reply.seq }, {
        from: "127.0.0.1",
        seq: 5,
      });
      assert.equal(receiveEchoReply(fd), null, "nothing else waiting: null, not a throw");
    } finally {
      closeFd(fd);
    }
  },
});
