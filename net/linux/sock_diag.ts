/**
 * Who owns a TCP socket: an exact lookup through NETLINK_SOCK_DIAG (inet_diag, the interface `ss`
 * uses), answered from the kernel's connection hash in O(1) whatever the number of sockets —
 * unlike reading /proc/net/tcp, which formats every socket of the namespace (2.4 ms with 400
 * sockets here, against 20 µs for this lookup). The answer carries the uid that created the
 * socket. One netlink socket is kept open: it belongs to the namespace of the thread that opened
 * it, and every call is synchronous.
 */
import { Errno } from "./errno.ts";
import { LinuxError } from "./errors.ts";
import {
  AF_INET,
  AF_INET6,
  AF_NETLINK,
  check,
  errno,
  libc,
  SO_RCVTIMEO,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_SOCKET,
} from "./libc.ts";
import {
  decodeError,
  decodeMessages,
  type Message,
  NLM_F_REQUEST,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
} from "./netlink/codec.ts";

const NETLINK_SOCK_DIAG = 4;
const SOCK_DIAG_BY_FAMILY = 20;
const IPPROTO_TCP = 6;
const INET_DIAG_NOCOOKIE = 0xffffffff;
const EPROTO = 71;
/** struct inet_diag_msg: family, state, timer, retrans (4), sockid (48), expires, rqueue, wqueue. */
const UID_OFFSET = 4 + 48 + 12;
const INODE_OFFSET = UID_OFFSET + 4;

export interface TcpEndpoint {
  /** IPv4 dotted quad. */
  ip: string;
  port: number;
}

export interface SocketOwner {
  uid: number;
  inode: number;
}

/**
 * The SOCK_DIAG_BY_FAMILY request (header and struct inet_diag_req_v2) for the one TCP socket
 * whose local end is `local` and remote end `remote`, as AF_INET or as AF_INET6 with IPv4-mapped
 * addresses (a dual-stack client socket). Pure; written into one buffer (this runs per request).
 */
export function encodeTcpLookup(
  local: TcpEndpoint,
  remote: TcpEndpoint,
  family: typeof AF_INET | typeof AF_INET6,
  seq: number,
): Uint8Array<ArrayBuffer> {
  const msg = new Uint8Array(NLMSG_HDRLEN + 56);
  const v = new DataView(msg.buffer);
  v.setUint32(0, msg.length, true);
  v.setUint16(4, SOCK_DIAG_BY_FAMILY, true);
  v.setUint16(6, NLM_F_REQUEST, true);
  v.setUint32(8, seq >>> 0, true);
  const req = NLMSG_HDRLEN;
  msg[req] = family;
  msg[req + 1] = IPPROTO_TCP;
  v.setUint32(req + 4, 0xffffffff, true); // every TCP state
  v.setUint16(req + 8, local.port, false);
  v.setUint16(req + 10, remote.port, false);
  const at = family === AF_INET ? 0 : 12; // IPv4-mapped: ::ffff:a.b.c.d
  if (family === AF_INET6) {
    msg[req + 22] =
      msg[req + 23] =
      msg[req + 38] =
      msg[req + 39] =
        0xff;
  }
  msg.set(ipv4Bytes(local.ip), req + 12 + at);
  msg.set(ipv4Bytes(remote.ip), req + 28 + at);
  v.setUint32(req + 48, INET_DIAG_NOCOOKIE, true);
  v.setUint32(req + 52, INET_DIAG_NOCOOKIE, true);
  return msg;
}

/** The owner in a SOCK_DIAG_BY_FAMILY answer; null for "no such socket" (ENOENT). Pure. */
export function decodeTcpLookup(m: Message): SocketOwner | null {
  if (m.type === NLMSG_ERROR) {
    const e = decodeError(m);
    if (e.errno === Errno.ENOENT) return null;
    throw new LinuxError("look up a TCP socket", e.errno, undefined, e.message);
  }
  if (m.type !== SOCK_DIAG_BY_FAMILY || m.payload.length < INODE_OFFSET + 4) {
    throw new LinuxError("look up a TCP socket", EPROTO, undefined, "unexpected answer");
  }
  const v = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
  return { uid: v.getUint32(UID_OFFSET, true), inode: v.getUint32(INODE_OFFSET, true) };
}

function ipv4Bytes(ip: string): number[] {
  const o = ip.split(".").map(Number);
  if (o.length !== 4 || o.some((x) => !(x >= 0 && x <= 255 && Number.isInteger(x)))) {
    throw new LinuxError("look up a TCP socket", Errno.EINVAL, ip, "not an IPv4 address");
  }
  return o;
}

/** An open NETLINK_SOCK_DIAG socket in the calling thread's current network namespace. */
export class SockDiag {
  #fd: number;
  #seq = 1;
  readonly #buf = new Uint8Array(8192);

  constructor() {
    const fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) throw new LinuxError("open a sock_diag socket", errno());
    try {
      const tv = new Uint8Array(16); // struct timeval: a kernel that does not answer is a bug
      new DataView(tv.buffer).setBigInt64(0, 2n, true);
      check(libc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, tv.length), "setsockopt sock_diag");
    } catch (e) {
      libc.close(fd);
      throw e;
    }
    this.#fd = fd;
  }

  /**
   * The owner of the TCP socket whose local end is `local` and remote end `remote` (e.g. a
   * client's socket, seen from the server as remote → local), or null when there is none.
   */
  tcpOwner(local: TcpEndpoint, remote: TcpEndpoint): SocketOwner | null {
    return this.#lookup(local, remote, AF_INET) ?? this.#lookup(local, remote, AF_INET6);
  }

  close(): void {
    if (this.#fd >= 0) libc.close(this.#fd);
    this.#fd = -1;
  }

  #lookup(local: TcpEndpoint, remote: TcpEndpoint, family: typeof AF_INET | typeof AF_INET6) {
    if (this.#fd < 0) throw new LinuxError("look up a TCP socket", Errno.EBADF);
    const seq = this.#seq = (this.#seq + 1) >>> 0;
    const msg = encodeTcpLookup(local, remote, family, seq);
    const sa = new Uint8Array(12);
    new DataView(sa.buffer).setUint16(0, AF_NETLINK, true);
    check(libc.sendto(this.#fd, msg, BigInt(msg.length), 0, sa, sa.length), "send sock_diag");
    for (;;) {
      const n = Number(libc.recvfrom(this.#fd, this.#buf, BigInt(this.#buf.length), 0, null, null));
      if (n < 0) {
        const e = errno();
        if (e === Errno.EINTR) continue;
        throw new LinuxError("look up a TCP socket", e === Errno.EAGAIN ? Errno.ETIMEDOUT : e);
      }
      // Answers to an earlier request that timed out are skipped by their sequence number.
      const m = decodeMessages(this.#buf.subarray(0, n)).find((x) => x.seq === seq);
      if (m) return decodeTcpLookup(m);
    }
  }
}
