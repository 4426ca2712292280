/**
 * The node-wide lock that serialises what concurrent plugin runs must not interleave (creating
 * the bridge and giving it its gateway address, GC). A kernel file lock (flock): released by the
 * kernel if the process dies, never a sleep-and-retry.
 *
 * flock needs only a descriptor, and any reader can get one: the directory is root-only (0700)
 * and the file 0600, else any local user could hold the lock and stall every pod ADD. A file
 * left open to others by an older version is replaced, not just tightened: whoever opened it
 * before keeps a descriptor, now of a file nobody else locks.
 */
import { privateDir } from "./private_dir.ts";

export const LOCK_DIR = "/run/weavets";

/** Runs `fn` holding the node lock (`dir`: tests only). */
export async function withNodeLock<T>(fn: () => Promise<T> | T, dir = LOCK_DIR): Promise<T> {
  const file = await lock(dir);
  try {
    return await fn();
  } finally {
    file.close(); // closing the descriptor releases the lock
  }
}

async function lock(dir: string): Promise<Deno.FsFile> {
  privateDir(dir);
  const path = `${dir}/cni.lock`;
  while (true) {
    const file = Deno.openSync(path, { read: true, write: true, create: true, mode: 0o600 });
    const st = file.statSync();
    if ((st.mode! & 0o077) !== 0 || st.uid !== Deno.uid()) {
      file.close();
      replaceLockFile(path);
      continue;
    }
    await file.lock(true);
    // Replaced while this waited (by the code above, in another plugin run): lock the new one.
    if (Deno.statSync(path).ino === st.ino) return file;
    file.close();
  }
}

function replaceLockFile(path: string): void {
  const tmp = `${path}.${Deno.pid}`;
  Deno.writeFileSync(tmp, new Uint8Array(), { mode: 0o600 });
  Deno.chmodSync(tmp, 0o600);
  Deno.renameSync(tmp, path);
}
