/**
 * ICMP "fragmentation needed" (type 3 code 4) for an IPv4 packet too large for the path, built as
 * a whole Ethernet frame to write back towards the sender. Pure.
 */
import { ETH_HEADER, ethertype, ETHERTYPE_IPV4 } from "./frame.ts";

/** RFC 1071 ones'-complement checksum of b[start, end). */
export function inetChecksum(b: Uint8Array, start: number, end: number): number {
  let sum = 0;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (i < end) sum += b[i] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return (~sum) & 0xffff;
}

/** True when the frame is IPv4 with the Don't Fragment bit set. */
export function isIpv4DontFragment(frame: Uint8Array, off = 0): boolean {
  return frame.length - off >= ETH_HEADER + 20 && ethertype(frame, off) === ETHERTYPE_IPV4 &&
    (frame[off + ETH_HEADER + 6] & 0x40) !== 0;
}

/**
 * The reply to `frame` (Ethernet + IPv4) saying the next hop takes at most `mtu` bytes. It comes
 * from the original destination's MAC and IP, so the sender's stack accepts and applies it (as
 * Weave's sleeve does). Returns null for frames that must not get one (not IPv4, ICMP errors).
 */
export function fragNeeded(frame: Uint8Array, mtu: number, off = 0): Uint8Array | null {
  if (frame.length - off < ETH_HEADER + 20 || ethertype(frame, off) !== ETHERTYPE_IPV4) return null;
  const ip = off + ETH_HEADER;
  const ihl = (frame[ip] & 0x0f) * 4;
  if ((frame[ip] >> 4) !== 4 || ihl < 20 || frame.length < ip + ihl) return null;
  // Never answer an ICMP error with another one (RFC 1122 3.2.2).
  if (
    frame[ip + 9] === 1 && frame.length >= ip + ihl + 1 &&
    [3, 4, 5, 11, 12].includes(frame[ip + ihl])
  ) {
    return null;
  }
  const quoted = Math.min(ihl + 8, frame.length - ip);
  const out = new Uint8Array(ETH_HEADER + 20 + 8 + quoted);
  out.set(frame.subarray(off + 6, off + 12), 0); // dst = original src
  out.set(frame.subarray(off, off + 6), 6); // src = original dst
  out[12] = 0x08;
  out[13] = 0x00;
  const o = ETH_HEADER;
  const total = 20 + 8 + quoted;
  out[o] = 0x45;
  out[o + 2] = total >> 8;
  out[o + 3] = total & 0xff;
  out[o + 8] = 64; // TTL
  out[o + 9] = 1; // ICMP
  out.set(frame.subarray(ip + 16, ip + 20), o + 12); // src = original dst
  out.set(frame.subarray(ip + 12, ip + 16), o + 16); // dst = original src
  const ipSum = inetChecksum(out, o, o + 20);
  out[o + 10] = ipSum >> 8;
  out[o + 11] = ipSum & 0xff;
  const c = o + 20;
  out[c] = 3;
  out[c + 1] = 4;
  out[c + 6] = (mtu >> 8) & 0xff;
  out[c + 7] = mtu & 0xff;
  out.set(frame.subarray(ip, ip + quoted), c + 8);
  const icmpSum = inetChecksum(out, c, out.length);
  out[c + 2] = icmpSum >> 8;
  out[c + 3] = icmpSum & 0xff;
  return out;
}
