/**
 * The node-wide lock that serialises what concurrent plugin runs must not interleave (creating
 * the bridge and giving it its gateway address, GC). A kernel file lock (flock): released by the
 * kernel if the process dies, never a sleep-and-retry.
 */
export const LOCK_DIR = "/run/weavets";

export async function withNodeLock<T>(fn: () => Promise<T> | T): Promise<T> {
  Deno.mkdirSync(LOCK_DIR, { recursive: true });
  const file = Deno.openSync(`${LOCK_DIR}/cni.lock`, { read: true, write: true, create: true });
  try {
    await file.lock(true);
    return await fn();
  } finally {
    file.close(); // closing the descriptor releases the lock
  }
}
