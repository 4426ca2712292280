/**
 * Network namespace ids: the numbers by which this namespace refers to others. A veth whose peer
 * sits in another namespace reports that namespace only by id (Link.linkNetnsId); these turn an
 * id back into a path that can be entered.
 */
import { closeFd, O_CLOEXEC, O_RDONLY, openFd } from "./libc.ts";
import { decodeAttrs, MessageEncoder } from "./netlink/codec.ts";
import * as R from "./netlink/rtnl.ts";
import { execute, requestFlags } from "./netlink/socket.ts";
import { NETNS_RUN_DIR } from "./netns.ts";

/** The id this namespace has for the one at `path`; undefined when it has none assigned. */
export function netnsIdOf(path: string): number | undefined {
  const op = "get netns id";
  const fd = openFd(path, O_RDONLY | O_CLOEXEC, op);
  try {
    const req = new MessageEncoder(R.RTM_GETNSID, requestFlags())
      .raw(new Uint8Array(R.RTGENMSG_LEN))
      .u32(R.NETNSA_FD, fd);
    for (const m of execute(req, { op, object: path })) {
      if (m.type !== R.RTM_NEWNSID) continue;
      const id = decodeAttrs(m.payload, R.RTGENMSG_LEN).i32(R.NETNSA_NSID);
      return id === undefined || id < 0 ? undefined : id;
    }
    return undefined;
  } finally {
    closeFd(fd);
  }
}

/**
 * A path for each namespace this one has an id for, among the named ones (/run/netns, where
 * container runtimes put pods' namespaces) and those of running processes (/proc/PID/ns/net).
 * Namespaces that vanish while it looks are skipped.
 */
export function netnsPathsById(): Map<number, string> {
  const found = new Map<number, string>();
  const seen = new Set<number>();
  const consider = (path: string) => {
    try {
      const ino = Deno.statSync(path).ino ?? 0;
      if (seen.has(ino)) return;
      seen.add(ino);
      const id = netnsIdOf(path);
      if (id !== undefined && !found.has(id)) found.set(id, path);
    } catch {
      // gone meanwhile, or not a namespace
    }
  };
  for (const dir of [NETNS_RUN_DIR, "/proc"]) {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      continue;
    }
    for (const e of entries) {
      if (dir === NETNS_RUN_DIR) consider(`${dir}/${e.name}`);
      else if (/^\d+$/.test(e.name)) consider(`/proc/${e.name}/ns/net`);
    }
  }
  return found;
}
