import assert from "node:assert/strict";
import { CniError, ErrorCode } from "./errors.ts";
import {
  dropPendingRelease,
  listPendingReleases,
  MAX_PENDING,
  parseRecord,
  pendingDirOf,
  type PendingRelease,
  readRecord,
  recordName,
  recordPendingRelease,
  withPendingRelease,
} from "./pending.ts";

function rec(id: string, since = "2025-01-01T00:00:00.000Z"): PendingRelease {
  return { id, ifname: "eth0", daemon: "127.0.0.1:6784", since };
}

async function withDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "wtc-pending-" });
  try {
    await fn(`${root}/cni-pending/net-1`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("pending: a record is written whole into a root-only directory, oldest first", async () => {
  await withDir((dir) => {
    recordPendingRelease(dir, rec("b", "2025-01-02T00:00:00.000Z"));
    recordPendingRelease(dir, rec("a", "2025-01-01T00:00:00.000Z"));
    assert.equal(Deno.statSync(dir).mode! & 0o777, 0o700);
    assert.equal(Deno.statSync(`${dir}/${recordName("a", "eth0")}`).mode! & 0o777, 0o600);
    assert.deepEqual(listPendingReleases(dir).map((e) => e.record), [rec("a"), {
      ...rec("b"),
      since: "2025-01-02T00:00:00.000Z",
    }]);
    // Only the records: no temporary file is left.
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "a@eth0.json",
      "b@eth0.json",
    ]);
    // A second DEL of the same attachment replaces its record (idempotent).
    recordPendingRelease(dir, rec("a", "2025-01-03T00:00:00.000Z"));
    assert.equal(listPendingReleases(dir).length, 2);
  });
});

Deno.test("pending: a directory no one wrote to yet lists nothing", () => {
  assert.deepEqual(listPendingReleases("/nonexistent/cni-pending"), []);
});

Deno.test("pending: bounded: beyond MAX_PENDING a DEL fails with 11 (the runtime retries)", async () => {
  await withDir((dir) => {
    recordPendingRelease(dir, rec("first"));
    for (let i = 1; i < MAX_PENDING; i++) {
      Deno.writeTextFileSync(`${dir}/${recordName(`x${i}`, "eth0")}`, "{}");
    }
    assert.throws(() => recordPendingRelease(dir, rec("one-too-many")), (e: unknown) => {
      assert.ok(e instanceof CniError);
      assert.equal(e.code, ErrorCode.TryAgainLater);
      assert.match(e.message, /could not be kept/);
      return true;
    });
    // Replacing a record that is there is not growth.
    recordPendingRelease(dir, rec("first", "2025-02-01T00:00:00.000Z"));
  });
});

Deno.test("pending: files that are not records are reported, not trusted", () => {
  assert.match(String(parseRecord("nope")), /not JSON/);
  assert.match(String(parseRecord('{"id":"a","ifname":"eth0","daemon":"x"}')), /"since"/);
  assert.match(
    String(readRecord(recordName("other", "eth0"), JSON.stringify(rec("a")))),
    /names a \(eth0\), not its file's attachment/,
  );
  assert.deepEqual(readRecord(recordName("a", "eth0"), JSON.stringify(rec("a"))), rec("a"));
});

Deno.test("pending: an ADD drops its attachment's record; others stay", async () => {
  await withDir(async (dir) => {
    recordPendingRelease(dir, rec("a"));
    recordPendingRelease(dir, rec("b"));
    await dropPendingRelease(dir, "a", "eth0");
    await dropPendingRelease(dir, "never", "eth0"); // nothing kept: nothing to do
    assert.deepEqual(listPendingReleases(dir).map((e) => e.name), ["b@eth0.json"]);
  });
});

Deno.test("pending: a replay holding a record's lock and an ADD dropping it never interleave", async () => {
  await withDir(async (dir) => {
    recordPendingRelease(dir, rec("a"));
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => release = r);
    const replay = withPendingRelease(dir, recordName("a", "eth0"), async (_rec, remove) => {
      order.push("replay: DELETE sent");
      await held;
      remove();
      order.push("replay: record removed");
    });
    await new Promise((r) => setTimeout(r, 20));
    const drop = dropPendingRelease(dir, "a", "eth0").then(() => order.push("ADD: went on"));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(order, ["replay: DELETE sent"], "the ADD waits for the replay");
    release();
    await Promise.all([replay, drop]);
    assert.deepEqual(order, ["replay: DELETE sent", "replay: record removed", "ADD: went on"]);
  });
});

Deno.test("pending: removing after a release keeps a newer record written meanwhile", async () => {
  await withDir(async (dir) => {
    recordPendingRelease(dir, rec("a"));
    await withPendingRelease(dir, recordName("a", "eth0"), (_rec, remove) => {
      // Another DEL of the same attachment replaced the file while this one was being replayed.
      recordPendingRelease(dir, rec("a", "2025-03-01T00:00:00.000Z"));
      remove();
      return Promise.resolve();
    });
    assert.deepEqual(listPendingReleases(dir).map((e) => (e.record as PendingRelease).since), [
      "2025-03-01T00:00:00.000Z",
    ]);
  });
});

Deno.test("pending: the host's namespace keeps its records at the root (a reboot changes no path)", () => {
  const root = "/var/lib/weavets/cni-pending";
  // The fixed inode of the initial namespace (PROC_NET_INIT_INO), or PID 1's where it is readable.
  assert.equal(pendingDirOf(0xeffffff9, undefined, root), root);
  assert.equal(pendingDirOf(4026531840, 4026531840, root), root);
  // Any other namespace (a test "node"): its own directory.
  assert.equal(pendingDirOf(4026533461, 4026531840, root), `${root}/net-4026533461`);
  assert.equal(pendingDirOf(4026533461, undefined, root), `${root}/net-4026533461`);
});
