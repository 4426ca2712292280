/**
 * UDP sockets over libc for the data plane: synchronous (blocking unless asked) calls meant for
 * tight loops in Workers. For batching (sendmmsg/recvmmsg) use `libc` directly and keep a JS
 * reference to every buffer whose address sits inside an mmsghdr/iovec.
 */

import { invalid, LinuxError } from "./errors.ts";
import { formatIPv4, ipv4FromBytes, ipv4ToBytes, parseIPv4 } from "../addr/mod.ts";
import {
  AF_INET,
  check,
  errno,
  libc,
  SO_RCVBUFFORCE,
  SO_REUSEADDR,
  SO_SNDBUFFORCE,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
} from "./libc.ts";
import { asInvalid } from "./names.ts";

export const SOCKADDR_IN_LEN = 16;

/** struct sockaddr_in for an IPv4 address and port. */
export function sockaddrIn(ip: string, port: number): Uint8Array<ArrayBuffer> {
  const op = "build sockaddr";
  const addr = asInvalid(op, ip, () => parseIPv4(ip));
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw invalid(op, `${ip}:${port}`, "port must be 0..65535");
  }
  const sa = new Uint8Array(SOCKADDR_IN_LEN);
  const v = new DataView(sa.buffer);
  v.setUint16(0, AF_INET, true);
  v.setUint16(2, port, false);
  sa.set(ipv4ToBytes(addr), 4);
  return sa;
}

/** The address and port in a struct sockaddr_in. */
export function decodeSockaddrIn(sa: Uint8Array): { ip: string; port: number } {
  const v = new DataView(sa.buffer, sa.byteOffset, sa.byteLength);
  return { ip: formatIPv4(ipv4FromBytes(sa, 4)), port: v.getUint16(2, false) };
}

export function setSockOptInt(fd: number, level: number, name: number, value: number): void {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, value, true);
  check(libc.setsockopt(fd, level, name, b, 4), `setsockopt ${level}/${name}`, `fd ${fd}`);
}

export function getSockOptInt(fd: number, level: number, name: number): number {
  const b = new Uint8Array(4);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, 4, true);
  check(libc.getsockopt(fd, level, name, b, len), `getsockopt ${level}/${name}`, `fd ${fd}`);
  return new DataView(b.buffer).getInt32(0, true);
}

export interface UdpSocketOptions {
  /** Local address to bind (default 0.0.0.0) and port (default 0: any). */
  ip?: string;
  port?: number;
  nonBlocking?: boolean;
  /** SO_RCVBUFFORCE / SO_SNDBUFFORCE in bytes (root: beyond net.core.*mem_max). */
  rcvBuf?: number;
  sndBuf?: number;
  reuseAddr?: boolean;
}

/** Opens and binds an IPv4 UDP socket in the calling thread's namespace; returns its fd. */
export function udpSocket(opts: UdpSocketOptions = {}): number {
  const where = `${opts.ip ?? "0.0.0.0"}:${opts.port ?? 0}`;
  const sa = sockaddrIn(opts.ip ?? "0.0.0.0", opts.port ?? 0);
  const type = SOCK_DGRAM | SOCK_CLOEXEC | (opts.nonBlocking ? SOCK_NONBLOCK : 0);
  const fd = libc.socket(AF_INET, type, 0);
  if (fd < 0) throw new LinuxError("open udp socket", errno(), where);
  try {
    if (opts.reuseAddr) setSockOptInt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (opts.rcvBuf !== undefined) setSockOptInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, opts.rcvBuf);
    if (opts.sndBuf !== undefined) setSockOptInt(fd, SOL_SOCKET, SO_SNDBUFFORCE, opts.sndBuf);
    check(libc.bind(fd, sa, sa.length), "bind udp socket", where);
    return fd;
  } catch (e) {
    libc.close(fd);
    throw e;
  }
}

/** The port a socket is bound to (after binding port 0). */
export function localPort(fd: number): number {
  const sa = new Uint8Array(SOCKADDR_IN_LEN);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, sa.length, true);
  check(libc.getsockname(fd, sa, len), "getsockname", `fd ${fd}`);
  return decodeSockaddrIn(sa).port;
}

/** sendto(2) of `buf[0, length)` to a prebuilt sockaddr_in; returns bytes sent. */
export function sendTo(
  fd: number,
  buf: Uint8Array<ArrayBuffer>,
  length: number,
  to: Uint8Array<ArrayBuffer>,
  flags = 0,
): number {
  const n = Number(libc.sendto(fd, buf, BigInt(length), flags, to, to.length));
  if (n < 0) throw new LinuxError("sendto", errno(), `fd ${fd}`);
  return n;
}

/** recvfrom(2) into `buf`; fills `from` (a sockaddr_in buffer) when given; returns bytes. */
export function recvFrom(
  fd: number,
  buf: Uint8Array<ArrayBuffer>,
  from?: Uint8Array<ArrayBuffer>,
  flags = 0,
): number {
  let len: Uint8Array<ArrayBuffer> | null = null;
  if (from) {
    len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, from.length, true);
  }
  const n = Number(libc.recvfrom(fd, buf, BigInt(buf.length), flags, from ?? null, len));
  if (n < 0) throw new LinuxError("recvfrom", errno(), `fd ${fd}`);
  return n;
}
