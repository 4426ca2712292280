/**
 * IPAM persistence in `--datadir`: SQLite (node:sqlite) in WAL mode. Every change is inside a
 * transaction, so a crash (kill -9) mid-write leaves either the old or the new state, never a mix.
 * synchronous=NORMAL: durable against process crashes; a power loss may lose the last commits but
 * never corrupts (WAL). The file is created 0600 by us before SQLite opens it.
 */
import { statfsSync } from "node:fs";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { clearImmediate, setImmediate } from "node:timers";
import type { Cidr } from "../addr/mod.ts";
import { formatCidr } from "../addr/mod.ts";
import { describeCause } from "../cause.ts";
import { WeavetsError } from "../errors.ts";
import type { Allocation, AllocKey, Persistence } from "./types.ts";
import { decodeMeta, encodeMeta, type PersistedMeta } from "./wire.ts";

export const DB_FILE = "weavets-ipam.db";
const SCHEMA_VERSION = "1";

/** The store's file cannot be opened, read or written (a system failure; the message says why). */
export class StoreError extends WeavetsError {
  override name = "StoreError";
  constructor(message: string) {
    super("system", message);
  }
}

function dbPath(datadir: string): string {
  return `${datadir.replace(/\/+$/, "")}/${DB_FILE}`;
}

/** Creates the file with mode 0600 (whatever the umask) and checks it: it holds the cluster's state. */
function createPrivate(path: string): void {
  Deno.openSync(path, { create: true, write: true, mode: 0o600 }).close();
  Deno.chmodSync(path, 0o600);
  const mode = Deno.statSync(path).mode ?? 0;
  if ((mode & 0o077) !== 0) {
    throw new StoreError(
      `${path} is readable by others (mode ${(mode & 0o777).toString(8)}): chmod 600 it`,
    );
  }
}

/** Less than 1 MiB free: SQLite then often reports only "disk I/O error". */
function nearlyFull(dir: string): boolean {
  try {
    const s = statfsSync(dir);
    return Number(s.bavail) * Number(s.bsize) < 1 << 20;
  } catch {
    return false;
  }
}

/** A failure to write the data directory, with what the operator can do about it. */
function storageProblem(datadir: string, path: string, e: unknown): StoreError {
  const msg = describeCause(e);
  const hint = /read-only|EROFS|readonly/i.test(msg)
    ? `the data directory ${datadir} is read-only: make it writable (on Kubernetes, the hostPath ` +
      "volume /var/lib/weavets)"
    : /full|ENOSPC|no space/i.test(msg) || nearlyFull(datadir)
    ? `the disk holding ${datadir} is full: free space there and restart; the store was not changed`
    : /permission|EACCES|EPERM/i.test(msg)
    ? `no permission to write ${datadir}: run the daemon as root or fix the directory's owner`
    : `check that ${datadir} is a writable directory on a local disk`;
  return new StoreError(`cannot open the IPAM store ${path}: ${msg}; ${hint}`);
}

/** The store's files: the database and SQLite's write-ahead log and shared-memory index. */
const FILE_SUFFIXES = ["", "-wal", "-shm"];

export class IpamStore implements Persistence {
  /**
   * Deletes the store in `datadir` (a peer removed from the cluster starts over). Files that are
   * not there are fine; any other failure throws StoreError: a store that stays behind would be
   * reused with a stale ring, which could hand out addresses that are in use.
   */
  static async destroy(datadir: string): Promise<void> {
    const path = dbPath(datadir);
    for (const suffix of FILE_SUFFIXES) {
      try {
        await Deno.remove(path + suffix);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) continue;
        throw new StoreError(
          `cannot delete the IPAM store ${path + suffix}: ${describeCause(e)}; delete it by hand ` +
            "(the daemon must not start with the state of a peer that was removed)",
        );
      }
    }
  }

  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #put: StatementSync;
  readonly #del: StatementSync;
  readonly #setMeta: StatementSync;
  #batch: {
    done: Promise<void>;
    resolve: () => void;
    reject: (e: Error) => void;
    timer: ReturnType<typeof setImmediate>;
  } | null = null;

  /** Opens (or creates) the store; refuses one made for another range or another peer. */
  constructor(datadir: string, range: Cidr, peerName: string) {
    this.path = dbPath(datadir);
    try {
      Deno.mkdirSync(datadir, { recursive: true, mode: 0o700 });
      createPrivate(this.path);
      this.#db = new DatabaseSync(this.path);
    } catch (e) {
      throw e instanceof StoreError ? e : storageProblem(datadir, this.path, e);
    }
    const db = this.#db;
    try {
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      db.exec("PRAGMA busy_timeout = 2000");
      db.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS allocations (
          id TEXT NOT NULL, ifname TEXT NOT NULL, ip INTEGER NOT NULL UNIQUE,
          PRIMARY KEY (id, ifname)) WITHOUT ROWID;`);
      this.#setMeta = db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
      this.#put = db.prepare(
        "INSERT OR REPLACE INTO allocations (id, ifname, ip) VALUES (?, ?, ?)",
      );
      this.#del = db.prepare("DELETE FROM allocations WHERE id = ? AND ifname = ?");
      this.#checkIdentity(formatCidr(range), peerName);
    } catch (e) {
      db.close();
      throw e instanceof StoreError ? e : storageProblem(datadir, this.path, e);
    }
  }

  #getMeta(key: string): string | null {
    const row = this.#db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as
      | { value: string }
      | undefined;
    return row?.value ?? null;
  }

  #checkIdentity(range: string, peer: string): void {
    const version = this.#getMeta("schema");
    if (version !== null && version !== SCHEMA_VERSION) {
      throw new StoreError(
        `${this.path} has schema ${version}, this weavets expects ` +
          `${SCHEMA_VERSION}: delete it to start over`,
      );
    }
    const oldRange = this.#getMeta("range");
    if (oldRange !== null && oldRange !== range) {
      throw new StoreError(
        `${this.path} holds IP allocations for range ${oldRange}, but --ipalloc-range is ` +
          `${range}: start with --ipalloc-range=${oldRange}, or delete ${this.path} on every ` +
          `peer to start the cluster over with the new range`,
      );
    }
    const oldPeer = this.#getMeta("peername");
    if (oldPeer !== null && oldPeer !== peer) {
      throw new StoreError(
        `${this.path} belongs to peer ${oldPeer}, but this peer is ${peer}: start with ` +
          `--name=${oldPeer}, or delete ${this.path} (run 'weavets rmpeer ${oldPeer}' on another ` +
          `peer first so its addresses are not stranded)`,
      );
    }
    this.#tx(() => {
      this.#setMeta.run("schema", SCHEMA_VERSION);
      this.#setMeta.run("range", range);
      this.#setMeta.run("peername", peer);
    });
  }

  load(): { meta: PersistedMeta; allocations: Allocation[] } {
    const text = this.#getMeta("state");
    const meta = text ? decodeMeta(text) : { ring: null, paxos: null };
    const allocations = this.#db.prepare("SELECT id, ifname, ip FROM allocations")
      .all() as unknown as Allocation[];
    return { meta, allocations: allocations.map((a) => ({ ...a, ip: Number(a.ip) })) };
  }

  /** Ring and consensus records: committed at once (what depends on them is sent right after). */
  saveMeta(meta: PersistedMeta): void {
    this.#commit();
    this.#setMeta.run("state", encodeMeta(meta));
  }

  putAllocation(a: Allocation): void {
    this.#inBatch(() => this.#put.run(a.id, a.ifname, a.ip));
  }

  deleteAllocations(keys: AllocKey[]): void {
    this.#inBatch(() => {
      for (const k of keys) this.#del.run(k.id, k.ifname);
    });
  }

  /**
   * Resolves once every allocation write made so far is committed; rejects when that commit
   * failed. The API answers only after it: an acknowledged allocation is on disk.
   */
  committed(): Promise<void> {
    return this.#batch?.done ?? Promise.resolve();
  }

  close(): void {
    this.#commit();
    if (this.#db.isOpen) this.#db.close();
  }

  /**
   * Group commit: allocation writes made in one turn of the event loop share one transaction,
   * committed right after it (setImmediate: after the I/O callbacks of this turn, ~10 µs later),
   * so concurrent API requests cost one commit, not one each.
   */
  #inBatch(fn: () => void): void {
    if (!this.#batch) {
      this.#db.exec("BEGIN IMMEDIATE");
      let resolve!: () => void, reject!: (e: Error) => void;
      const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      done.catch(() => {}); // the waiters see it; an unobserved failure must not crash us
      this.#batch = { done, resolve, reject, timer: setImmediate(() => this.#commit()) };
    }
    fn();
  }

  #commit(): void {
    const b = this.#batch;
    if (!b) return;
    this.#batch = null;
    clearImmediate(b.timer);
    try {
      this.#db.exec("COMMIT");
      b.resolve();
    } catch (e) {
      try {
        this.#db.exec("ROLLBACK");
      } catch {
        // nothing left to undo
      }
      b.reject(e as Error);
    }
  }

  #tx(fn: () => void): void {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      fn();
      this.#db.exec("COMMIT");
    } catch (e) {
      this.#db.exec("ROLLBACK");
      throw e;
    }
  }
}
