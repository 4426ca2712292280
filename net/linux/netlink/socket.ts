/**
 * rtnetlink requests over an FFI AF_NETLINK socket. A socket belongs to the network namespace of
 * the thread that created it, so each request opens its own socket at call time: code running
 * inside `inNetns` talks to that namespace's kernel tables. Everything here is synchronous.
 */

import { Errno } from "../errno.ts";
import { LinuxError } from "../errors.ts";
import {
  AF_NETLINK,
  check,
  errno,
  libc,
  MSG_TRUNC,
  SO_RCVTIMEO,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_SOCKET,
} from "../libc.ts";
import {
  decodeDoneError,
  decodeError,
  decodeMessages,
  type Message,
  type MessageEncoder,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
} from "./codec.ts";

const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
/** A request that gets no answer within this time is a kernel or logic bug, not a wait. */
const RECV_TIMEOUT_SECONDS = 10;
const BUFFER_SIZE = 1 << 16;
const DUMP_RETRIES = 5;

/** What is being attempted, for the error message: op "create veth", object "veth0". */
export interface Context {
  op: string;
  object?: string;
  /** Said before the kernel's own explanation, e.g. `new name "eth1"`. */
  detail?: string;
}

function kernelError(ctx: Context, errno: number, kernelText?: string): LinuxError {
  const detail = [ctx.detail, kernelText].filter(Boolean).join(": ");
  return new LinuxError(ctx.op, errno, ctx.object, detail || undefined);
}

let nextSeq = Math.floor(Math.random() * 0x7fffffff);
// Safe to share: every use is synchronous and finishes before the next one starts.
const recvBuf = new Uint8Array(BUFFER_SIZE);

function setIntOpt(fd: number, level: number, name: number, value: number): void {
  const v = new Uint8Array(4);
  new DataView(v.buffer).setInt32(0, value, true);
  check(libc.setsockopt(fd, level, name, v, 4), "setsockopt netlink");
}

/** Opens a netlink socket (rtnetlink unless told) in the calling thread's network namespace. */
function openSocket(ctx: Context, protocol: number): number {
  const fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw new LinuxError(`${ctx.op}: open netlink socket`, errno(), ctx.object);
  try {
    const sa = new Uint8Array(12); // sockaddr_nl{family, pad, pid 0 (kernel assigns), groups 0}
    new DataView(sa.buffer).setUint16(0, AF_NETLINK, true);
    check(libc.bind(fd, sa, sa.length), "bind netlink socket");
    setIntOpt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
    setIntOpt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
    const tv = new Uint8Array(16); // struct timeval{tv_sec i64, tv_usec i64}
    new DataView(tv.buffer).setBigInt64(0, BigInt(RECV_TIMEOUT_SECONDS), true);
    check(libc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, tv.length), "setsockopt netlink");
    return fd;
  } catch (e) {
    libc.close(fd);
    throw e;
  }
}

function send(fd: number, msg: Uint8Array<ArrayBuffer>, ctx: Context): void {
  const sa = new Uint8Array(12);
  new DataView(sa.buffer).setUint16(0, AF_NETLINK, true);
  const n = Number(libc.sendto(fd, msg, BigInt(msg.length), 0, sa, sa.length));
  if (n < 0) throw new LinuxError(ctx.op, errno(), ctx.object);
  if (n !== msg.length) {
    throw new LinuxError(ctx.op, Errno.EMSGSIZE, ctx.object, `sent ${n} of ${msg.length} bytes`);
  }
}

function receive(fd: number, ctx: Context): Message[] {
  for (;;) {
    const n = Number(libc.recvfrom(fd, recvBuf, BigInt(recvBuf.length), MSG_TRUNC, null, null));
    if (n < 0) {
      const e = errno();
      if (e === Errno.EINTR) continue;
      // SO_RCVTIMEO expiry reports EAGAIN; say what it means.
      if (e === Errno.EAGAIN) {
        throw new LinuxError(ctx.op, Errno.ETIMEDOUT, ctx.object, "no netlink reply");
      }
      throw new LinuxError(ctx.op, e, ctx.object);
    }
    if (n > recvBuf.length) {
      throw new LinuxError(ctx.op, Errno.EMSGSIZE, ctx.object, `netlink reply of ${n} bytes`);
    }
    // Copy: callers keep payload views after the shared buffer is reused.
    return decodeMessages(recvBuf.slice(0, n));
  }
}

/**
 * Sends one request and collects its replies until the kernel is done: until the ACK (an
 * NLMSG_ERROR with code 0) when NLM_F_ACK is set, until NLMSG_DONE for dumps, otherwise after
 * the first reply. A kernel error becomes a LinuxError carrying the extended-ack text.
 */
function transact(fd: number, req: MessageEncoder, ctx: Context): Message[] {
  const seq = nextSeq = (nextSeq + 1) >>> 0;
  send(fd, req.finish(seq), ctx);
  const wantAck = (req.flags & NLM_F_ACK) !== 0;
  const replies: Message[] = [];
  for (;;) {
    for (const m of receive(fd, ctx)) {
      if (m.seq !== seq || m.type === NLMSG_NOOP) continue;
      if (m.type === NLMSG_ERROR) {
        const e = decodeError(m);
        if (e.errno !== 0) throw kernelError(ctx, e.errno, e.message);
        return replies;
      }
      if (m.type === NLMSG_OVERRUN) {
        throw new LinuxError(ctx.op, Errno.ENOBUFS, ctx.object, "netlink overrun");
      }
      if (m.type === NLMSG_DONE) {
        const code = decodeDoneError(m);
        if (code !== 0) throw kernelError(ctx, code);
        if (!wantAck) return replies;
        continue;
      }
      replies.push(m);
      if (!wantAck && (m.flags & NLM_F_MULTI) === 0) return replies;
    }
  }
}

/** Runs `fn` with a fresh netlink socket of the current namespace, closing it afterwards. */
function withSocket<T>(ctx: Context, protocol: number, fn: (fd: number) => T): T {
  const fd = openSocket(ctx, protocol);
  try {
    return fn(fd);
  } finally {
    libc.close(fd);
  }
}

/**
 * Sends one request (build its flags with requestFlags() to have it acknowledged) on a fresh
 * socket of the current namespace; returns the replies that came before the ACK.
 */
export function execute(req: MessageEncoder, ctx: Context, protocol = NETLINK_ROUTE): Message[] {
  return withSocket(ctx, protocol, (fd) => transact(fd, req, ctx));
}

/**
 * Runs a dump request (rtnetlink unless `protocol` says otherwise, e.g. NETLINK_NETFILTER);
 * retries when the kernel reports the dump was interrupted by a change.
 */
export function dump(req: MessageEncoder, ctx: Context, protocol = NETLINK_ROUTE): Message[] {
  return withSocket(ctx, protocol, (fd) => {
    for (let attempt = 1;; attempt++) {
      const replies = transact(fd, req, ctx);
      const interrupted = replies.some((m) => (m.flags & NLM_F_DUMP_INTR) !== 0);
      if (!interrupted) return replies;
      if (attempt >= DUMP_RETRIES) {
        throw new LinuxError(ctx.op, Errno.EAGAIN, ctx.object, "dump kept changing underneath");
      }
    }
  });
}

/** Flags for a change request that must be acknowledged, plus the given extra flags. */
export function requestFlags(extra = 0): number {
  return NLM_F_REQUEST | NLM_F_ACK | extra;
}

/** Flags for a dump request. */
export function dumpFlags(): number {
  return NLM_F_REQUEST | NLM_F_DUMP;
}
