import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { parseCidr } from "../addr/mod.ts";
import { Ring } from "./ring.ts";
import { DB_FILE, IpamStore, StoreError } from "./store.ts";

const range = parseCidr("10.32.0.0/12");
const PEER = "aa:bb:cc:dd:ee:01";

function withDir(fn: (dir: string) => void | Promise<void>) {
  return async () => {
    const dir = Deno.makeTempDirSync({ prefix: "wti-store-" });
    try {
      await fn(dir);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  };
}

Deno.test(
  "store: ownership, allocations and peer name survive a reopen",
  withDir((dir) => {
    const ring = Ring.seeded(range.ip, range.ip + 2 ** 20, [PEER, "aa:bb:cc:dd:ee:02"]);
    const s = new IpamStore(dir, range, PEER);
    s.saveMeta({ ring: ring.state(), paxos: null });
    s.putAllocation({ id: "c1", ifname: "eth0", ip: range.ip + 5 });
    s.putAllocation({ id: "c2", ifname: "eth0", ip: range.ip + 6 });
    s.deleteAllocations([{ id: "c2", ifname: "eth0" }, { id: "unknown", ifname: "x" }]);
    s.close();
    const db = new DatabaseSync(`${dir}/${DB_FILE}`, { readOnly: true });
    assert.deepEqual(
      { ...db.prepare("SELECT value FROM meta WHERE key = 'peername'").get() },
      { value: PEER },
    );
    db.close();
    const s2 = new IpamStore(dir, range, PEER);
    const loaded = s2.load();
    s2.close();
    assert.deepEqual(loaded.meta.ring, ring.state());
    assert.deepEqual(loaded.allocations, [{ id: "c1", ifname: "eth0", ip: range.ip + 5 }]);
  }),
);

Deno.test(
  "store: the file is created 0600 even with a permissive umask",
  withDir((dir) => {
    const old = Deno.umask(0);
    try {
      new IpamStore(dir, range, PEER).close();
    } finally {
      Deno.umask(old);
    }
    assert.equal(Deno.statSync(`${dir}/${DB_FILE}`).mode! & 0o777, 0o600);
  }),
);

Deno.test(
  "store: a different range is refused with what to do",
  withDir((dir) => {
    new IpamStore(dir, range, PEER).close();
    assert.throws(() => new IpamStore(dir, parseCidr("10.64.0.0/12"), PEER), (e: Error) => {
      assert.ok(e instanceof StoreError);
      assert.match(e.message, /holds IP allocations for range 10\.32\.0\.0\/12/);
      assert.match(e.message, /--ipalloc-range=10\.32\.0\.0\/12, or delete .*weavets-ipam\.db/);
      return true;
    });
    assert.throws(() => new IpamStore(dir, range, "aa:bb:cc:dd:ee:09"), /belongs to peer/);
  }),
);

Deno.test(
  "store: a crash (SIGKILL) mid-write leaves a consistent store",
  withDir(async (dir) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../tests/ipam/crash_writer.ts", import.meta.url).pathname,
        dir,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    assert.match(new TextDecoder().decode(value), /ready/);
    await new Promise((r) => setTimeout(r, 150));
    child.kill("SIGKILL");
    reader.releaseLock();
    await child.stdout.cancel();
    await child.status;
    const db = new DatabaseSync(`${dir}/${DB_FILE}`);
    assert.deepEqual({ ...db.prepare("PRAGMA integrity_check").get() }, { integrity_check: "ok" });
    db.close();
    const s = new IpamStore(dir, parseCidr("10.40.0.0/16"), "aa:00:00:00:00:01");
    const { meta, allocations } = s.load();
    s.close();
    assert.ok(allocations.length > 200, `only ${allocations.length} allocations survived`);
    assert.equal(new Set(allocations.map((a) => a.ip)).size, allocations.length);
    const ring = new Ring(0x0a280000, 0x0a280000 + 65536);
    ring.restore(meta.ring!);
    assert.ok(ring.initialised);
  }),
);

Deno.test(
  "store: allocation writes of one turn share a commit; committed() waits for it",
  withDir(async (dir) => {
    const s = new IpamStore(dir, range, PEER);
    const reader = new DatabaseSync(`${dir}/${DB_FILE}`, { readOnly: true });
    const count = () =>
      Number((reader.prepare("SELECT count(*) AS n FROM allocations").get() as { n: number }).n);
    try {
      for (let i = 0; i < 3; i++) {
        s.putAllocation({ id: `c${i}`, ifname: "eth0", ip: range.ip + 1 + i });
      }
      assert.equal(count(), 0, "visible before the commit");
      await s.committed();
      assert.equal(count(), 3);
      // Ring state is committed at once, together with pending allocation writes.
      s.putAllocation({ id: "c9", ifname: "eth0", ip: range.ip + 9 });
      s.saveMeta({ ring: Ring.seeded(range.ip, range.ip + 2 ** 20, [PEER]).state(), paxos: null });
      assert.equal(count(), 4);
    } finally {
      reader.close();
      s.close();
    }
  }),
);

Deno.test(
  "store: destroy removes every file, tolerates a missing store, and fails loudly otherwise",
  withDir(async (dir) => {
    const s = new IpamStore(dir, range, PEER);
    s.putAllocation({ id: "c1", ifname: "eth0", ip: range.ip + 5 });
    await s.committed();
    s.close();
    await IpamStore.destroy(dir);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "files left behind");
    await IpamStore.destroy(dir); // nothing there: fine
    // A file that cannot be removed (here: a non-empty directory in its place) must not pass as
    // deleted: the daemon would start with the old state.
    Deno.mkdirSync(`${dir}/${DB_FILE}-wal/x`, { recursive: true });
    await assert.rejects(
      () => IpamStore.destroy(dir),
      (e: Error) =>
        e instanceof StoreError && /cannot delete the IPAM store .*-wal: .*delete it by hand/
          .test(e.message),
    );
  }),
);
