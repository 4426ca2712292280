import assert from "node:assert/strict";
import { Logger } from "../net/log.ts";
import { CniError, ErrorCode } from "./errors.ts";
import { listPendingReleases, type PendingRelease, recordPendingRelease } from "./pending.ts";
import { createReplayer } from "./replay.ts";

const lines: string[] = [];
const log = new Logger({ sink: { write: (l: string) => void lines.push(l) } });

function rec(id: string): PendingRelease {
  return { id, ifname: "eth0", daemon: "127.0.0.1:6784", since: new Date().toISOString() };
}

Deno.test("replay: released records go, those IPAM cannot take yet stay, refused ones are dropped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wtc-replay-" });
  try {
    for (const id of ["ok", "later", "refused"]) recordPendingRelease(dir, rec(id));
    Deno.writeTextFileSync(`${dir}/junk@eth0.json`, "not a record");
    const seen: string[] = [];
    const replayer = createReplayer({
      dir,
      log,
      release: (r) => {
        seen.push(r.id);
        if (r.id === "later") {
          return Promise.reject(new CniError(ErrorCode.TryAgainLater, "IPAM not ready"));
        }
        if (r.id === "refused") {
          return Promise.reject(new CniError(ErrorCode.IOFailure, "400: invalid id"));
        }
        return Promise.resolve();
      },
    });
    assert.deepEqual(replayer.pending().count, 4);
    assert.deepEqual(await replayer.runOnce(), { released: 1, kept: 1, dropped: 2 });
    assert.deepEqual(seen.sort(), ["later", "ok", "refused"]);
    assert.deepEqual(listPendingReleases(dir).map((e) => e.name), ["later@eth0.json"]);
    assert.equal(replayer.pending().count, 1);
    assert.ok(lines.some((l) => l.includes("not a record")));
    // Idempotent: the next round tries only what is left.
    seen.length = 0;
    assert.deepEqual(await replayer.runOnce(), { released: 0, kept: 1, dropped: 0 });
    assert.deepEqual(seen, ["later"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("replay: start replays at once and again every period; stop waits for a round", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wtc-replay-" });
  try {
    recordPendingRelease(dir, rec("a"));
    let calls = 0;
    let ready = false;
    const replayer = createReplayer({
      dir,
      log,
      everyMs: 10,
      release: () => {
        calls++;
        return ready
          ? Promise.resolve()
          : Promise.reject(new CniError(ErrorCode.TryAgainLater, "not ready"));
      },
    });
    replayer.start();
    const until = async (ok: () => boolean) => {
      for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
    };
    await until(() => calls >= 2);
    assert.ok(calls >= 2, "retried while IPAM was not ready");
    ready = true;
    await until(() => replayer.pending().count === 0);
    assert.equal(replayer.pending().count, 0);
    await replayer.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
