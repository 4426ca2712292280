/**
 * How the plugin hands a pod event to the daemon of its node: one request per connection on a
 * Unix socket, JSON both ways. The socket is per network namespace (named by the namespace's
 * inode), so a plugin always reaches the daemon of its own node — also when several nodes are
 * network namespaces on one machine (tests, `weavets demo`). The directory is root-only: whoever
 * can connect can have interfaces created in any namespace.
 *
 * No imports: the plugin's start-up path loads this on every pod event.
 */
export const CNI_SOCKET_DIR = "/run/weavets/cni";

/** The socket for the calling thread's network namespace. */
export function cniSocketPath(): string {
  return cniSocketPathFor(Deno.statSync("/proc/thread-self/ns/net").ino!);
}

/** The socket for the network namespace with inode `ino` (e.g. `stat` of /run/netns/NAME). */
export function cniSocketPathFor(ino: number): string {
  return `${CNI_SOCKET_DIR}/net-${ino}.sock`;
}

/** What the plugin sends: its whole environment (CNI_* and what delegated plugins inherit). */
export interface CniRequest {
  env: Record<string, string>;
  stdin: string;
  /** The plugin's file name, when it says which plugin this is (cni/invocation.ts). */
  execName?: string;
  /**
   * Set when the daemon answered this ADD or DEL with `fallback` and the plugin then did it: its
   * result (ADD) or {} (DEL), so the daemon's hooks still learn of the pod (cni/attached.ts).
   * The daemon answers 0 (told) or 1 with a message (refused); the event's outcome stays the
   * plugin's.
   */
  done?: Record<string, unknown>;
}

/**
 * What the daemon answers: the plugin's stdout object and exit code, or `fallback` when the daemon
 * cannot do this one (e.g. it does not see the pod's namespace path) and the plugin must.
 */
export type CniReply =
  | { output?: Record<string, unknown>; code: number; message?: string }
  | { fallback: string };

/**
 * Bounds of one request: stdin (at most 1 MiB, cni/stdin.ts) JSON-escaped, and the environment.
 * The plugin does not send larger ones.
 */
export const MAX_REQUEST_BYTES = 3 << 20;
