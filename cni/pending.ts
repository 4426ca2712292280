/**
 * Releases a DEL could not hand to IPAM (the daemon was down or not ready), kept on the node so
 * that DEL can still succeed: the runtime then stops retrying, and pods do not hang in
 * Terminating (Weave #3143). The daemon replays them when it starts and while any are left
 * (cni/replay.ts); replaying is idempotent (releasing what is gone is a no-op).
 *
 * One file per attachment, named by its key, in a root-only directory on persistent storage (a
 * node reboot must not forget them: the IPAM state survives it): written to a temporary name,
 * synced, then renamed, so a reader sees a whole record or none. An ADD of the same attachment
 * drops its record first (cni/ipam/daemon.ts): a release replayed after that ADD would free the
 * new pod's address. Each record is locked (flock) while it is replayed or dropped, so the two
 * never interleave, across processes.
 */
import { CniError, describeCause, ErrorCode } from "./errors.ts";
import { privateDir } from "./private_dir.ts";

/** Under the daemon's default data dir; the plugin cannot know a --datadir. */
export const PENDING_ROOT = "/var/lib/weavets/cni-pending";
/** Bound on the records kept: beyond it DEL fails as before (the runtime retries). */
export const MAX_PENDING = 4096;
/** The host's network namespace on kernels that give it a fixed inode (PROC_NET_INIT_INO). */
const INIT_NETNS_INO = 0xeffffff9;
const SUFFIX = ".json";

export interface PendingRelease {
  id: string;
  ifname: string;
  /** The daemon's HTTP API the release goes to (host:port), as the plugin would have used. */
  daemon: string;
  /** When DEL recorded it (ISO 8601). */
  since: string;
}

/**
 * The directory for the calling thread's network namespace: PENDING_ROOT for the host's (so it
 * is the same after a reboot), a subdirectory per namespace otherwise (several test "nodes" on
 * one machine, each with its own daemon).
 */
export function pendingDir(root = PENDING_ROOT): string {
  return pendingDirOf(Deno.statSync("/proc/thread-self/ns/net").ino!, hostNetnsInode(), root);
}

/**
 * The directory for the network namespace with inode `ino`, given the host's (`hostIno`, when
 * known). Pure.
 */
export function pendingDirOf(ino: number, hostIno: number | undefined, root = PENDING_ROOT) {
  return ino === INIT_NETNS_INO || ino === hostIno ? root : `${root}/net-${ino}`;
}

/** The directory for the network namespace at `netnsPath` (e.g. /run/netns/NAME). */
export function pendingDirFor(netnsPath: string, root = PENDING_ROOT): string {
  return pendingDirOf(Deno.statSync(netnsPath).ino!, hostNetnsInode(), root);
}

/** The inode of PID 1's network namespace, the host's; undefined without access (a sandbox). */
function hostNetnsInode(): number | undefined {
  try {
    return Deno.statSync("/proc/1/ns/net").ino ?? undefined;
  } catch {
    return undefined; // a per-namespace directory is always safe
  }
}

/** The file name of an attachment's record. Pure. */
export function recordName(id: string, ifname: string): string {
  // Container ids are [a-zA-Z0-9_.-] (cni/env.ts), interface names have no "/": "@" separates.
  return `${id}@${ifname}${SUFFIX}`;
}

/** A record's text read back, or why it is not one. Pure. */
export function parseRecord(text: string): PendingRelease | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return `not JSON: ${describeCause(e)}`;
  }
  const r = v as Record<string, unknown>;
  for (const k of ["id", "ifname", "daemon", "since"] as const) {
    if (typeof r?.[k] !== "string" || r[k] === "") return `"${k}" is not a string`;
  }
  return { id: r.id, ifname: r.ifname, daemon: r.daemon, since: r.since } as PendingRelease;
}

/** The record in file `name`, or why it is not one. Pure. */
export function readRecord(name: string, text: string): PendingRelease | string {
  const r = parseRecord(text);
  if (typeof r === "string" || recordName(r.id, r.ifname) === name) return r;
  return `it names ${r.id} (${r.ifname}), not its file's attachment`;
}

/** Keeps `rec` until the daemon releases it. Error 11 when it cannot (the runtime retries). */
export function recordPendingRelease(dir: string, rec: PendingRelease): void {
  const name = recordName(rec.id, rec.ifname);
  try {
    privateDir(dir);
    const names = recordNames(dir);
    if (names.length >= MAX_PENDING && !names.includes(name)) {
      throw new Error(`${dir} already holds ${names.length} pending releases`);
    }
    const tmp = `${dir}/.${name}.${Deno.pid}`;
    const file = Deno.openSync(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
    try {
      file.writeSync(new TextEncoder().encode(JSON.stringify(rec) + "\n"));
      file.syncSync();
    } finally {
      file.close();
    }
    Deno.renameSync(tmp, `${dir}/${name}`);
    syncDir(dir);
  } catch (e) {
    throw new CniError(
      ErrorCode.TryAgainLater,
      `the weavets daemon is not reachable to release the address of ${rec.id} (${rec.ifname}), ` +
        "and the release could not be kept for it: try again when the daemon is back",
      describeCause(e),
    );
  }
}

/** A file in the directory: its record, or why it is not one. */
export interface PendingEntry {
  name: string;
  record: PendingRelease | string;
}

/** Every file in `dir`, oldest record first (files that are not records before them). */
export function listPendingReleases(dir: string): PendingEntry[] {
  const out: PendingEntry[] = [];
  for (const name of recordNames(dir)) {
    let text: string;
    try {
      text = Deno.readTextFileSync(`${dir}/${name}`);
    } catch {
      continue; // replayed or dropped meanwhile
    }
    out.push({ name, record: readRecord(name, text) });
  }
  const since = (e: PendingEntry) => (typeof e.record === "string" ? "" : e.record.since);
  return out.sort((a, b) => (since(a) < since(b) ? -1 : since(a) > since(b) ? 1 : 0));
}

/**
 * Runs `fn` with the record file `name` locked, if it is there; `remove` then deletes it — only
 * the file that was locked: a newer record written meanwhile (another DEL) stays. Returns false
 * when there was no such file.
 */
export async function withPendingRelease(
  dir: string,
  name: string,
  fn: (rec: PendingRelease | string, remove: () => void) => Promise<void>,
): Promise<boolean> {
  const path = `${dir}/${name}`;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
  try {
    await file.lock(true);
    const ino = file.statSync().ino;
    let current: number | null | undefined;
    try {
      current = Deno.statSync(path).ino;
    } catch {
      current = undefined;
    }
    if (current !== ino) return false; // replayed or dropped while this waited for the lock
    // One read: a record is well under 1 KiB; anything longer is not one (and fails to parse).
    const buf = new Uint8Array(64 * 1024);
    const text = new TextDecoder().decode(buf.subarray(0, (await file.read(buf)) ?? 0));
    await fn(readRecord(name, text), () => {
      try {
        if (Deno.statSync(path).ino === ino) Deno.removeSync(path);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    });
    return true;
  } finally {
    file.close();
  }
}

/**
 * An ADD of (id, ifname) supersedes a release still pending for it: the record goes, so that
 * replaying it can never free the address this ADD is about to get. Nothing recorded: a stat.
 */
export async function dropPendingRelease(dir: string, id: string, ifname: string): Promise<void> {
  await withPendingRelease(dir, recordName(id, ifname), (_rec, remove) => {
    remove();
    return Promise.resolve();
  });
}

/** Removes the records kept for the network namespace at `netnsPath` (test and demo teardown). */
export function removePendingDir(netnsPath: string, root = PENDING_ROOT): void {
  try {
    const dir = pendingDirFor(netnsPath, root);
    if (dir !== root) Deno.removeSync(dir, { recursive: true });
  } catch {
    // nothing kept for it
  }
}

function recordNames(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)]
      .filter((e) => e.isFile && e.name.endsWith(SUFFIX) && !e.name.startsWith("."))
      .map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** Makes the rename durable (the directory entry), as the file's own sync made its content. */
function syncDir(dir: string): void {
  const d = Deno.openSync(dir, { read: true });
  try {
    d.syncSync();
  } finally {
    d.close();
  }
}
