/**
 * libc through Deno.dlopen. Every symbol is synchronous (blocking) on purpose: network
 * namespaces are per thread, and errno lives in the calling thread, so only a synchronous call
 * runs in the namespace the caller entered and lets us read errno right after it returns.
 */

import { LinuxError } from "./errors.ts";

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  sendto: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
    result: "isize",
  },
  recvfrom: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"],
    result: "isize",
  },
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "buffer"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  /** close(2) on Deno's thread pool: see closeFdInBackground. */
  closeNonblocking: { name: "close", parameters: ["i32"], result: "i32", nonblocking: true },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  /** ioctl whose third argument is a value, not a pointer (TUNSETOFFLOAD, TUNSETPERSIST). */
  ioctlValue: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  unshare: { parameters: ["i32"], result: "i32" },
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "buffer"], result: "i32" },
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  unlink: { parameters: ["buffer"], result: "i32" },
  mkdir: { parameters: ["buffer", "u32"], result: "i32" },
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The raw libc symbols (all synchronous). Prefer the typed helpers below and in the modules. */
export const libc: Deno.StaticForeignLibraryInterface<typeof SYMBOLS> =
  Deno.dlopen("libc.so.6", SYMBOLS).symbols;

/** The calling thread's errno. Call it immediately after the failing libc call. */
export function errno(): number {
  const p = libc.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

const enc = new TextEncoder();

/** A NUL-terminated C string. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  return enc.encode(s + "\0");
}

/**
 * Checks a libc return value: negative → LinuxError with the thread's errno.
 * Returns the value as a number otherwise.
 */
export function check(ret: number | bigint, op: string, object?: string): number {
  const n = Number(ret);
  if (n < 0) throw new LinuxError(op, errno(), object);
  return n;
}

/** Opens a file with open(2) flags; throws LinuxError(op, errno, path) on failure. */
export function openFd(path: string, flags: number, op = "open", mode = 0): number {
  const fd = libc.open(cstr(path), flags, mode);
  return check(fd, op, path);
}

/** close(2), throwing on failure (EBADF means a double close: a bug worth seeing). */
export function closeFd(fd: number): void {
  check(libc.close(fd), "close", `fd ${fd}`);
}

/**
 * close(2) on Deno's thread pool, for descriptors whose close waits in the kernel: closing an
 * AF_PACKET socket waits for an RCU grace period (packet_release → synchronize_net), ~10 ms that
 * would otherwise stall the event loop. Safe off-thread: close depends on neither the namespace
 * nor errno, and the number stays ours until it is closed. A failure cannot be reported.
 */
export function closeFdInBackground(fd: number): void {
  libc.closeNonblocking(fd).catch(() => {});
}

/** One synchronous read(2) into `buf`; returns the byte count (0 at end of file). */
export function readFd(fd: number, buf: Uint8Array<ArrayBuffer>, length = buf.length): number {
  return check(libc.read(fd, buf, BigInt(length)), "read", `fd ${fd}`);
}

/** One synchronous write(2) of `buf[0, length)`; returns the byte count written. */
export function writeFd(fd: number, buf: Uint8Array<ArrayBuffer>, length = buf.length): number {
  return check(libc.write(fd, buf, BigInt(length)), "write", `fd ${fd}`);
}

const POLLIN = 0x1;

/**
 * Waits up to `timeoutMs` (-1: forever) for `fd` to become readable; true when it is. Lets a
 * Worker's blocking read loop wake up regularly to notice it should stop.
 */
export function waitReadable(fd: number, timeoutMs: number): boolean {
  const pfd = new Uint8Array(8); // struct pollfd{int fd; short events; short revents}
  const v = new DataView(pfd.buffer);
  v.setInt32(0, fd, true);
  v.setInt16(4, POLLIN, true);
  for (;;) {
    const n = libc.poll(pfd, 1n, timeoutMs);
    if (n >= 0) return n > 0;
    const e = errno();
    if (e !== 4 /* EINTR */) throw new LinuxError("poll", e, `fd ${fd}`);
  }
}

/** open(2) flags and other constants used across net/linux (Linux generic values). */
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const AF_PACKET = 17;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;

export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_RCVTIMEO = 20;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const SOL_UDP = 17;
export const UDP_SEGMENT = 103;
export const UDP_GRO = 104;
export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;
