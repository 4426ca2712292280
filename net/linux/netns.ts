/**
 * Network namespaces by path (/run/netns/NAME or /proc/PID/ns/net).
 *
 * THE PER-THREAD RULE. A network namespace belongs to a thread, not to the process. `inNetns`
 * switches only the calling (main or Worker) thread. Inside `fn`, do only synchronous work —
 * synchronous FFI (everything in net/linux), `Deno.*Sync` calls, `new Deno.Command().outputSync()`
 * — and return. Never `await` inside: async ops and `nonblocking: true` FFI calls run on Deno's
 * thread pool, which stays in the original namespace, and a Worker started while inside stays in
 * the target namespace for good. `inNetns` rejects an `fn` that returns a promise.
 *
 * Sockets (netlink, UDP, AF_PACKET) opened inside keep their namespace after leaving, so a
 * long-lived socket for another namespace is made by opening it inside `inNetns`.
 */

import { Errno } from "./errno.ts";
import { invalid, LinuxError } from "./errors.ts";
import { check, closeFd, cstr, errno, libc, O_CLOEXEC, O_CREAT, O_EXCL, O_RDONLY } from "./libc.ts";
import { checkNetnsName } from "./names.ts";

const CLONE_NEWNET = 0x40000000;
const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MS_SHARED = 1 << 20;
const MNT_DETACH = 2;
/** The calling thread's own namespace link (not /proc/self, which is the main thread's). */
const THREAD_NETNS = "/proc/thread-self/ns/net";
export const NETNS_RUN_DIR = "/run/netns";

/** The path of a named namespace: /run/netns/NAME. */
export function netnsPath(name: string): string {
  return `${NETNS_RUN_DIR}/${name}`;
}

/** The inode of the calling thread's network namespace (identifies it). */
export function currentNetnsInode(): number {
  return Deno.statSync(THREAD_NETNS).ino ?? 0;
}

/**
 * Opens a namespace path (for setns, or as IFLA_NET_NS_FD); the caller closes the fd.
 * `op` names the operation for errors ('create veth "vethA": open peer netns').
 */
export function openNetnsFd(path: string, op = "open netns"): number {
  const fd = libc.open(cstr(path), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    const e = errno();
    const detail = e === Errno.ENOENT ? "no such network namespace path" : undefined;
    throw new LinuxError(op, e, path, detail);
  }
  return fd;
}

type NotPromise<T> = T extends PromiseLike<unknown> ? never : T;

/**
 * Runs synchronous `fn` with the calling thread inside the namespace at `path`, then always
 * switches back to the original namespace — also when `fn` throws. See the per-thread rule above.
 */
export function inNetns<T>(path: string, fn: () => NotPromise<T>): T {
  const target = openNetnsFd(path, "enter netns");
  let orig: number;
  try {
    orig = openNetnsFd(THREAD_NETNS, "save current netns");
  } catch (e) {
    libc.close(target);
    throw e;
  }
  try {
    check(libc.setns(target, CLONE_NEWNET), "enter netns", path);
    let result: T | undefined;
    let failure: { error: unknown } | undefined;
    try {
      result = fn();
    } catch (error) {
      failure = { error };
    }
    returnTo(orig, path);
    if (failure) throw failure.error;
    if (typeof (result as { then?: unknown })?.then === "function") {
      throw invalid(
        "enter netns",
        path,
        "the function returned a promise; only synchronous work may run inside a namespace",
      );
    }
    return result as T;
  } finally {
    libc.close(target);
    libc.close(orig);
  }
}

/**
 * Switches the thread back to the namespace open as `orig`. Failing would leave this thread in
 * the wrong namespace, where nothing is safe: the error is thrown in place of any other.
 */
function returnTo(orig: number, context: string): void {
  if (libc.setns(orig, CLONE_NEWNET) < 0) {
    throw new LinuxError("return to original netns", errno(), context);
  }
}

/** Makes /run/netns a shared mount point, as `ip netns add` does, so mounts propagate. */
function ensureRunDir(op: string): void {
  if (libc.mkdir(cstr(NETNS_RUN_DIR), 0o755) < 0) {
    const e = errno();
    if (e !== Errno.EEXIST) throw new LinuxError(op, e, NETNS_RUN_DIR);
  }
  const dir = cstr(NETNS_RUN_DIR);
  const none = cstr("none");
  if (libc.mount(cstr(""), dir, none, BigInt(MS_SHARED | MS_REC), null) === 0) return;
  const e = errno();
  if (e !== Errno.EINVAL) throw new LinuxError(op, e, NETNS_RUN_DIR);
  // Not a mount point yet: bind it onto itself, then share it.
  check(libc.mount(dir, dir, none, BigInt(MS_BIND | MS_REC), null), op, NETNS_RUN_DIR);
  check(libc.mount(cstr(""), dir, none, BigInt(MS_SHARED | MS_REC), null), op, NETNS_RUN_DIR);
}

/**
 * Creates a new, empty network namespace bound at /run/netns/NAME (without `ip`): a fresh
 * namespace is unshared on this thread, bind-mounted onto the file, and the thread returns to its
 * original namespace. Returns the path. EEXIST when the name is taken.
 */
export function createNetns(name: string): string {
  const op = "create netns";
  checkNetnsName(op, name);
  ensureRunDir(op);
  const path = netnsPath(name);
  const file = libc.open(cstr(path), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (file < 0) throw new LinuxError(op, errno(), name);
  libc.close(file);
  let orig = -1;
  try {
    orig = openNetnsFd(THREAD_NETNS, "save current netns");
    check(libc.unshare(CLONE_NEWNET), op, name);
    const none = cstr("none");
    const mounted = libc.mount(cstr(THREAD_NETNS), cstr(path), none, BigInt(MS_BIND), null);
    const mountErrno = errno();
    returnTo(orig, name);
    if (mounted < 0) throw new LinuxError(op, mountErrno, name);
    return path;
  } catch (e) {
    libc.unlink(cstr(path));
    throw e;
  } finally {
    if (orig >= 0) closeFd(orig);
  }
}

/** Unmounts and removes /run/netns/NAME. ENOENT when it does not exist. */
export function deleteNetns(name: string): void {
  const op = "delete netns";
  checkNetnsName(op, name);
  const path = cstr(netnsPath(name));
  // EINVAL: not a mount point (a leftover file) — still remove the file.
  if (libc.umount2(path, MNT_DETACH) < 0) {
    const e = errno();
    if (e !== Errno.EINVAL) throw new LinuxError(op, e, name);
  }
  check(libc.unlink(path), op, name);
}

/** True when `path` exists and is a network namespace (a nsfs file, not a leftover). */
export function netnsExists(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    const ns = Deno.statSync(THREAD_NETNS);
    return st.dev === ns.dev && st.isFile;
  } catch {
    return false;
  }
}
