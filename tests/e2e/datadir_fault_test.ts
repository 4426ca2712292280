/**
 * A daemon started on a read-only or a full data dir: it stops with a clear error (non-zero exit;
 * the message names the directory and says what to do), and the store survives: a later start
 * on the writable dir keeps every allocation. The data dir is a small tmpfs of this test's own.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Cluster, type Node } from "../../cli/demo/cluster.ts";
import { IS_ROOT } from "../harness/netns.ts";
import { sh, shTry } from "../harness/sh.ts";
import { withCluster } from "./e2e.ts";

const EXIT_WITHIN_MS = 20_000;

/** Starts the node's daemon and waits for it to exit; returns its exit code and what it logged. */
async function startExpectingExit(c: Cluster, node: Node) {
  const before = (await Deno.readTextFile(node.logFile).catch(() => "")).length;
  await c.startDaemon(node);
  const child = node.daemon!;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const status = await Promise.race([
    child.status,
    new Promise<null>((r) => timer = setTimeout(() => r(null), EXIT_WITHIN_MS)),
  ]);
  clearTimeout(timer);
  await c.stopDaemon(node); // kills it if it is still running; forgets it either way
  // The log pipes drain after the exit.
  const logged = await Cluster.waitFor(
    "the daemon's last words",
    async () => (await Deno.readTextFile(node.logFile)).slice(before) || null,
    3000,
    100,
  ).catch(() => "");
  return { code: status?.code ?? null, logged };
}

/** A clear start-up error about the data dir: the daemon exits non-zero, names it, says what to do. */
async function assertClearDatadirError(
  t: Deno.TestContext,
  r: { code: number | null; logged: string },
  datadir: string,
  what: "read-only" | "full",
) {
  await t.step("the daemon exits non-zero", () => {
    assert.notEqual(r.code, null, `the daemon kept running on a ${what} data dir:\n${r.logged}`);
    assert.notEqual(r.code, 0, `the daemon exited 0 on a ${what} data dir`);
  });
  await t.step("the error names the data dir", () => {
    assert.ok(r.logged.includes(datadir), `the error names ${datadir}:\n${r.logged}`);
  });
  await t.step("the error says what to do", () => {
    assert.match(
      r.logged,
      // The cause, in words an operator acts on: "make it writable", "free some space".
      what === "read-only" ? /read-only.*writable/i : /(no space|full).*free/i,
      `the error on a ${what} data dir says so and what to do:\n${r.logged}`,
    );
  });
}

Deno.test({
  name: "e2e: read-only or full data dir at start: clear error, store intact, allocations kept",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    let mounted: string | undefined;
    await withCluster({
      nodes: 1,
      setup: async (c) => {
        mounted = c.nodes[0].datadir;
        await sh("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "wte-datadir", mounted);
      },
      cleanup: async () => {
        if (mounted) await shTry("umount", [mounted]);
      },
    }, async (c) => {
      const node = c.nodes[0];
      const dir = node.datadir;
      const pods = [await c.addPod(node, "a"), await c.addPod(node, "b")];
      const held = await c.allocations(node);
      assert.equal(held.length, 3, "two pods and the bridge");
      await c.stopDaemon(node, "SIGTERM");

      await t.step("read-only data dir", async (t) => {
        await sh("mount", "-o", "remount,ro", dir);
        try {
          const r = await startExpectingExit(c, node);
          console.log(`read-only: exit ${r.code}: ${r.logged.trim().split("\n").at(-1)}`);
          await assertClearDatadirError(t, r, dir, "read-only");
        } finally {
          await sh("mount", "-o", "remount,rw", dir);
        }
      });

      await t.step("full data dir", async (t) => {
        const filler = `${dir}/filler`;
        // Fill the tmpfs to the last byte.
        const f = await Deno.open(filler, { create: true, write: true });
        try {
          const chunk = new Uint8Array(4096);
          for (;;) await f.write(chunk);
        } catch (e) {
          assert.match(String(e), /No space left|ENOSPC|os error 28/);
        } finally {
          f.close();
        }
        try {
          const r = await startExpectingExit(c, node);
          console.log(`full: exit ${r.code}: ${r.logged.trim().split("\n").at(-1)}`);
          await assertClearDatadirError(t, r, dir, "full");
        } finally {
          await Deno.remove(filler);
        }
      });

      await t.step("the store is intact; a writable start keeps every allocation", async () => {
        const db = new DatabaseSync(`${dir}/weavets-ipam.db`, { readOnly: true });
        try {
          const check = db.prepare("PRAGMA integrity_check").get() as Record<string, string>;
          assert.equal(Object.values(check)[0], "ok");
        } finally {
          db.close();
        }
        await c.startDaemon(node);
        await c.waitReady(node, 30_000);
        assert.deepEqual(await c.allocations(node), held);
        for (const p of pods) assert.deepEqual(c.podAddresses(p), [`${p.ip}/12`]);
        const more = await c.addPod(node, "c");
        assert.ok(!held.some((a) => a.ip === `${more.ip}/12`), "a held address handed out again");
      });
    });
  },
});
