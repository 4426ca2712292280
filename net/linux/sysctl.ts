/**
 * sysctl through /proc/sys with synchronous libc calls on the calling thread.
 *
 * Namespaces: the /proc/sys/net tree is chosen by the network namespace of the thread that
 * opens the file (not by the process or the /proc mount), so inside `inNetns` these read and
 * write the entered namespace's values — verified by tests/linux/sysctl_test.ts. /sys/class/net
 * does NOT follow setns: sysfs shows the namespace it was mounted in; use netlink instead.
 */

import { Errno } from "./errno.ts";
import { invalid, LinuxError } from "./errors.ts";
import { closeFd, cstr, errno, libc, O_CLOEXEC, O_RDONLY, O_WRONLY } from "./libc.ts";

function sysctlPath(op: string, key: string): string {
  if (key === "" || key.startsWith("/") || key.endsWith("/")) {
    throw invalid(op, key, 'sysctl key looks like "net/ipv4/ip_forward" (slashes, no leading /)');
  }
  if (key.split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw invalid(op, key, "sysctl key has an empty, '.' or '..' segment");
  }
  if (key.includes("\0")) throw invalid(op, key, "sysctl key contains NUL");
  return `/proc/sys/${key}`;
}

function openKey(op: string, key: string, flags: number): number {
  const fd = libc.open(cstr(sysctlPath(op, key)), flags | O_CLOEXEC, 0);
  if (fd < 0) throw new LinuxError(op, errno(), key);
  return fd;
}

/** Reads a sysctl ("net/ipv4/ip_forward" → "1"), trailing newline removed. */
export function readSysctl(key: string): string {
  const op = "read sysctl";
  const fd = openKey(op, key, O_RDONLY);
  try {
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = Number(libc.read(fd, buf, BigInt(buf.length)));
      if (n < 0) throw new LinuxError(op, errno(), key);
      if (n === 0) break;
      chunks.push(buf.slice(0, n));
    }
    const all = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
    let off = 0;
    for (const c of chunks) {
      all.set(c, off);
      off += c.length;
    }
    return new TextDecoder().decode(all).replace(/\n$/, "");
  } finally {
    closeFd(fd);
  }
}

/** Writes a sysctl value in one write(2), as the kernel expects. */
export function writeSysctl(key: string, value: string): void {
  const op = "write sysctl";
  const fd = openKey(op, key, O_WRONLY);
  try {
    const data = new TextEncoder().encode(value);
    const n = Number(libc.write(fd, data, BigInt(data.length)));
    if (n < 0) throw new LinuxError(op, errno(), key, `value "${value}"`);
    if (n !== data.length) {
      throw new LinuxError(op, Errno.EIO, key, `short write ${n} of ${data.length} bytes`);
    }
  } finally {
    closeFd(fd);
  }
}
