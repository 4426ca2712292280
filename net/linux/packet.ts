/** Raw link-layer frames via AF_PACKET: gratuitous ARP announcements. */

import { parseMac } from "../addr/mod.ts";
import { invalid, LinuxError } from "./errors.ts";
import { AF_PACKET, closeFdInBackground, errno, libc, SOCK_CLOEXEC, SOCK_DGRAM } from "./libc.ts";
import { getLink } from "./link.ts";
import { asInvalid, checkIfName } from "./names.ts";
import { parseIp } from "./ip.ts";

const ETH_P_ARP = 0x0806;
const ETH_P_IP = 0x0800;
const ARPHRD_ETHER = 1;
const ARPOP_REQUEST = 1;
const SOCKADDR_LL_LEN = 20;

/** The 28-byte ARP request announcing `ip` at `mac` (sender = target = ip, RFC 5227). Pure. */
export function gratuitousArpPayload(ip: Uint8Array, mac: Uint8Array): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(28);
  const v = new DataView(b.buffer);
  v.setUint16(0, ARPHRD_ETHER);
  v.setUint16(2, ETH_P_IP);
  v.setUint8(4, 6);
  v.setUint8(5, 4);
  v.setUint16(6, ARPOP_REQUEST);
  b.set(mac, 8);
  b.set(ip, 14);
  // target hardware address stays zero
  b.set(ip, 24);
  return b;
}

/**
 * Broadcasts a gratuitous ARP for `ip` from interface `ifname` (in the current namespace), so
 * neighbours update stale entries for a reused address. `mac` defaults to the interface's MAC.
 */
export function sendGratuitousArp(ifname: string, ip: string, mac?: string): void {
  const op = "send gratuitous arp";
  checkIfName(op, ifname);
  const addr = asInvalid(op, ifname, () => parseIp(ip));
  if (addr.family !== 4) throw invalid(op, ifname, `ARP is IPv4 only, got "${ip}"`);
  const link = getLink(ifname);
  const hw = asInvalid(op, ifname, () => parseMac(mac ?? link.mac));
  const payload = gratuitousArpPayload(addr.bytes, hw);
  const sll = new Uint8Array(SOCKADDR_LL_LEN);
  const v = new DataView(sll.buffer);
  v.setUint16(0, AF_PACKET, true);
  v.setUint16(2, ETH_P_ARP, false);
  v.setInt32(4, link.index, true);
  v.setUint16(8, ARPHRD_ETHER, true);
  v.setUint8(11, 6);
  sll.fill(0xff, 12, 18);
  // Protocol 0: a send-only socket that receives nothing.
  const fd = libc.socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new LinuxError(op, errno(), ifname);
  try {
    const n = Number(libc.sendto(fd, payload, BigInt(payload.length), 0, sll, sll.length));
    if (n < 0) throw new LinuxError(op, errno(), ifname);
  } finally {
    closeFdInBackground(fd);
  }
}
