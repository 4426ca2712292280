/**
 * ICMP echo (ping) over a raw IPv4 socket: what `weavets demo` and the tests use to show pods
 * reach each other, so nothing outside the product (ping, busybox) is needed. A raw socket needs
 * CAP_NET_RAW and nothing else; an ICMP datagram socket would also need the namespace's
 * net.ipv4.ping_group_range to admit the caller, which is empty ("1 0") in every new namespace.
 *
 * The codec is pure. The socket follows the rule of net/linux: it lives in the network namespace
 * of the thread that opened it (open it inside `inNetns`), and every call here is synchronous.
 */
import { formatIPv4, ipv4FromBytes } from "../addr/mod.ts";
import { invalid, LinuxError } from "./errors.ts";
import {
  AF_INET,
  check,
  errno,
  libc,
  MSG_DONTWAIT,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_RAW,
} from "./libc.ts";
import { sockaddrIn } from "./udp.ts";

const IPPROTO_ICMP = 1;
const SOL_RAW = 255;
const ICMP_FILTER = 1;
const ICMP_ECHOREPLY = 0;
const ICMP_ECHO = 8;
const ICMP_HEADER_LEN = 8;
const EAGAIN = 11;

/** The Internet checksum (RFC 1071) of `bytes`: one's complement of the one's complement sum. */
export function inetChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i] << 8) | bytes[i + 1];
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An ICMP echo request (type 8) with its checksum: identifier, sequence number, payload. */
export function encodeEchoRequest(
  id: number,
  seq: number,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array<ArrayBuffer> {
  if (!Number.isInteger(id) || id < 0 || id > 0xffff) {
    throw invalid("encode icmp echo", String(id), "identifier must be 0..65535");
  }
  if (!Number.isInteger(seq) || seq < 0 || seq > 0xffff) {
    throw invalid("encode icmp echo", String(seq), "sequence number must be 0..65535");
  }
  const msg = new Uint8Array(ICMP_HEADER_LEN + payload.length);
  const v = new DataView(msg.buffer);
  msg[0] = ICMP_ECHO;
  v.setUint16(4, id, false);
  v.setUint16(6, seq, false);
  msg.set(payload, ICMP_HEADER_LEN);
  v.setUint16(2, inetChecksum(msg), false);
  return msg;
}

export interface EchoReply {
  /** The address the reply came from (the IPv4 header's source). */
  from: string;
  id: number;
  seq: number;
  payload: Uint8Array;
}

/**
 * An echo reply as a raw IPv4 socket receives it (IPv4 header, then ICMP), or null for anything
 * else: another ICMP type, a truncated or malformed packet, a bad checksum.
 */
export function decodeEchoReply(packet: Uint8Array): EchoReply | null {
  if (packet.length < 20 || packet[0] >> 4 !== 4) return null;
  const ihl = (packet[0] & 0x0f) * 4;
  if (ihl < 20 || packet.length < ihl + ICMP_HEADER_LEN || packet[9] !== IPPROTO_ICMP) return null;
  const icmp = packet.subarray(ihl);
  if (icmp[0] !== ICMP_ECHOREPLY || icmp[1] !== 0 || inetChecksum(icmp) !== 0) return null;
  const v = new DataView(icmp.buffer, icmp.byteOffset, icmp.byteLength);
  return {
    from: formatIPv4(ipv4FromBytes(packet, 12)),
    id: v.getUint16(4, false),
    seq: v.getUint16(6, false),
    payload: icmp.slice(ICMP_HEADER_LEN),
  };
}

/**
 * Opens a non-blocking raw ICMP socket in the calling thread's namespace that receives echo
 * replies only (ICMP_FILTER). Needs CAP_NET_RAW. Close it with closeFd.
 */
export function openIcmpSocket(): number {
  const fd = libc.socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMP);
  if (fd < 0) throw new LinuxError("open icmp socket", errno());
  try {
    // The filter is a bit mask of ICMP types to drop: everything but echo replies.
    const mask = new Uint8Array(4);
    new DataView(mask.buffer).setUint32(0, ~(1 << ICMP_ECHOREPLY) >>> 0, true);
    check(libc.setsockopt(fd, SOL_RAW, ICMP_FILTER, mask, 4), "set icmp filter", `fd ${fd}`);
    return fd;
  } catch (e) {
    libc.close(fd);
    throw e;
  }
}

/** Sends an echo request to `to` (the kernel adds the IPv4 header). */
export function sendEchoRequest(fd: number, to: string, id: number, seq: number): void {
  const msg = encodeEchoRequest(id, seq);
  const sa = sockaddrIn(to, 0);
  const n = Number(libc.sendto(fd, msg, BigInt(msg.length), 0, sa, sa.length));
  if (n < 0) throw new LinuxError("send icmp echo", errno(), to);
}

/** The next echo reply waiting on the socket, skipping anything else; null when none is. */
export function receiveEchoReply(fd: number): EchoReply | null {
  const buf = new Uint8Array(1500);
  for (;;) {
    const n = Number(libc.recvfrom(fd, buf, BigInt(buf.length), MSG_DONTWAIT, null, null));
    if (n < 0) {
      const e = errno();
      if (e === EAGAIN) return null;
      throw new LinuxError("receive icmp echo", e, `fd ${fd}`);
    }
    const reply = decodeEchoReply(buf.subarray(0, n));
    if (reply) return reply;
  }
}
