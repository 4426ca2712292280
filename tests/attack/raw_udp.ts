/**
 * A UDP datagram with a forged source address and port, sent as a raw IPv4 packet (AF_PACKET)
 * from the calling thread's network namespace: what any host on a peer's L2 segment can do. The
 * attack suites use it as a negative control (the same datagram a source check refuses from the
 * attacker's own address does pass when the source is spoofed, so it is well-formed) and to show
 * what a source check cannot stop without encryption.
 */
import { inetChecksum } from "../../net/dataplane/sleeve/icmp.ts";
import {
  AF_PACKET,
  closeFdInBackground,
  errno,
  libc,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
} from "../../net/linux/libc.ts";
import { LinuxError } from "../../net/linux/errors.ts";
import { getLink } from "../../net/linux/link.ts";

const ETH_P_IP = 0x0800;
/** IP payload per fragment: a multiple of 8 that fits a 1500-byte MTU after the 20-byte header. */
const MAX_FRAGMENT = 1480;
const ip4 = (s: string) => Uint8Array.from(s.split(".").map(Number));
const mac = (s: string) => Uint8Array.from(s.split(":").map((h) => parseInt(h, 16)));

export interface Endpoint {
  ip: string;
  port: number;
}

/** Sends `payload` from `src` to `dst` through `ifname` to the next hop `dstMac`. */
export function sendSpoofedUdp(
  ifname: string,
  dstMac: string,
  src: Endpoint,
  dst: Endpoint,
  payload: Uint8Array,
): void {
  // The UDP datagram (checksum 0: none, which IPv4 allows), then IPv4 packets carrying it: one,
  // or fragments of at most MAX_FRAGMENT bytes as the kernel would make for a large datagram.
  const udp = new Uint8Array(8 + payload.length);
  const u = new DataView(udp.buffer);
  u.setUint16(0, src.port);
  u.setUint16(2, dst.port);
  u.setUint16(4, udp.length);
  udp.set(payload, 8);
  const id = Math.floor(Math.random() * 0xffff);
  const sll = new Uint8Array(20);
  const s = new DataView(sll.buffer);
  s.setUint16(0, AF_PACKET, true);
  s.setUint16(2, ETH_P_IP, false);
  s.setInt32(4, getLink(ifname).index, true);
  s.setUint8(11, 6);
  sll.set(mac(dstMac), 12);
  const fd = libc.socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new LinuxError("raw udp socket", errno(), ifname);
  try {
    for (let off = 0; off < udp.length; off += MAX_FRAGMENT) {
      const part = udp.subarray(off, off + MAX_FRAGMENT);
      const more = off + part.length < udp.length;
      const pkt = new Uint8Array(20 + part.length);
      const v = new DataView(pkt.buffer);
      pkt[0] = 0x45;
      v.setUint16(2, pkt.length);
      v.setUint16(4, id);
      // Unfragmented: don't fragment; else more-fragments and the offset in 8-byte units.
      v.setUint16(6, udp.length <= MAX_FRAGMENT ? 0x4000 : (more ? 0x2000 : 0) | (off / 8));
      pkt[8] = 64;
      pkt[9] = 17;
      pkt.set(ip4(src.ip), 12);
      pkt.set(ip4(dst.ip), 16);
      v.setUint16(10, inetChecksum(pkt, 0, 20));
      pkt.set(part, 20);
      const n = Number(libc.sendto(fd, pkt, BigInt(pkt.length), 0, sll, sll.length));
      if (n < 0) throw new LinuxError("raw udp send", errno(), ifname);
    }
  } finally {
    closeFdInBackground(fd);
  }
}
