/**
 * `weavets demo` as a user runs it: the real product by path. The demo uses fixed names
 * ("wtdemo"), so these tests run one after the other in this one file, and refuse to run at all
 * while a demo of someone else is up (they would remove it).
 */
import assert from "node:assert/strict";
import { namespacesWithPrefix } from "../../cli/demo/cluster.ts";
import { IS_ROOT } from "../harness/netns.ts";
import { weavetsBin } from "../harness/binary.ts";

const PREFIX = "wtdemo";

/** PIDs of running demo daemons (their command line names a demo node). */
function demoDaemons(): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const argv = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
      if (argv.includes("daemon") && argv.some((a) => a.startsWith(`${PREFIX}-n`))) {
        pids.push(Number(e.name));
      }
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

function assertNothingLeft() {
  assert.deepEqual(namespacesWithPrefix(PREFIX), [], "demo namespaces left behind");
  assert.deepEqual(demoDaemons(), [], "demo daemons left running");
}

function assertNoDemoRunning() {
  const taken = namespacesWithPrefix(PREFIX);
  if (taken.length > 0) {
    throw new Error(
      `a demo is up on this machine (${taken.join(", ")}): these tests would remove it; ` +
        "stop it (weavets demo down) and run them again",
    );
  }
}

async function demo(args: string[], timeoutMs = 120_000, env: Record<string, string> = {}) {
  const child = new Deno.Command(weavetsBin(), {
    args: ["demo", ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** What a successful demo run must show, for `nodes` × `pods` pods. */
function assertShowsWorkingCluster(stdout: string, nodes: number, pods: number) {
  const established = stdout.split("\n").filter((l) => /\s(<-|->)\s.*\sestablished$/.test(l));
  assert.equal(established.length, nodes * (nodes - 1), `peers table:\n${stdout}`);
  for (let n = 1; n <= nodes; n++) {
    for (let p = 1; p <= pods; p++) {
      assert.match(
        stdout,
        new RegExp(`^  ${PREFIX}-n${n}-p${p}\\s+10\\.\\d+\\.\\d+\\.\\d+$`, "m"),
        `address of pod n${n}-p${p}`,
      );
    }
  }
  const matrix = stdout.slice(stdout.indexOf("from \\ to"));
  const rows = matrix.split("\n").slice(1, 1 + nodes * pods);
  assert.equal(rows.length, nodes * pods);
  for (const row of rows) {
    assert.doesNotMatch(row, /FAIL/, `ping matrix:\n${matrix}`);
    // Every cell but the diagonal is a latency.
    assert.equal(row.match(/\d+\.\d\dms/g)?.length, nodes * pods - 1, row);
  }
  assert.match(stdout, /every pod reaches every other pod/);
  if (nodes >= 2) {
    assert.match(stdout, /^ {2}\d+\.\d\d Gbit\/s TCP wtdemo-n1-p1 -> wtdemo-n2-p1 \(3 s\)$/m);
  }
  assert.match(stdout, /done in \d+\.\d s/);
}

Deno.test({
  name: "weavets demo --once: 3 nodes × 2 pods, full mesh, every pod echoes every pod, a TCP " +
    "transfer; nothing left afterwards",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  async fn() {
    assertNoDemoRunning();
    try {
      const r = await demo(["--once"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assertShowsWorkingCluster(r.stdout, 3, 2);
    } finally {
      // Only when a failure left something: the test must not leak it.
      if (namespacesWithPrefix(PREFIX).length || demoDaemons().length) await demo(["down"]);
    }
    assertNothingLeft();
  },
});

Deno.test({
  name: "weavets demo --once --password --no-fastdp: encrypted userspace path, 2 nodes × 1 pod",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  async fn() {
    assertNoDemoRunning();
    try {
      const r = await demo([
        "--once",
        "--password",
        "--no-fastdp",
        "--nodes",
        "2",
        "--pods-per-node",
        "1",
      ]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /started 2 daemons \(encrypted\) \(userspace path\)/);
      assertShowsWorkingCluster(r.stdout, 2, 1);
    } finally {
      if (namespacesWithPrefix(PREFIX).length || demoDaemons().length) await demo(["down"]);
    }
    assertNothingLeft();
  },
});

Deno.test({
  name: "weavets demo: a daemon that exits stops the demo at once with the daemon's own error",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  async fn() {
    assertNoDemoRunning();
    try {
      // An invalid setting in the environment the daemons inherit: they exit as they start.
      const started = performance.now();
      const r = await demo(["--once", "--nodes", "2", "--pods-per-node", "1"], 60_000, {
        WEAVE_MTU: "abc",
      });
      const took = performance.now() - started;
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(
        r.stderr,
        /weavets demo: the daemon of wtdemo-n\d exited \(code \d+\): .*WEAVE_MTU: must be an integer/,
      );
      // It used to wait out a 30 s readiness timeout. Starting a daemon takes a few seconds on a
      // busy machine; the exit is an event the demo waits on, not a poll.
      assert.ok(took < 15_000, `the demo took ${took.toFixed(0)} ms to stop`);
      assert.doesNotMatch(r.stdout, /every peer connected/);
    } finally {
      if (namespacesWithPrefix(PREFIX).length || demoDaemons().length) await demo(["down"]);
    }
    assertNothingLeft();
  },
});

/** Reads the demo's stdout until it says `marker`; throws after `ms` or when it ends first. */
async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  marker: string,
  ms: number,
): Promise<string> {
  let out = "";
  const deadline = Date.now() + ms;
  while (!out.includes(marker)) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, rej) => {
      timer = setTimeout(
        () => rej(new Error(`no "${marker}" within ${ms} ms:\n${out}`)),
        deadline - Date.now(),
      );
    });
    try {
      const { value, done } = await Promise.race([reader.read(), timeout]);
      if (done) throw new Error(`demo exited before "${marker}":\n${out}`);
      out += value;
    } finally {
      clearTimeout(timer);
    }
  }
  return out;
}

Deno.test({
  name: "weavets demo: a daemon killed while the demo is up stops the demo within 2 s, naming it",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    assertNoDemoRunning();
    const child = new Deno.Command(weavetsBin(), {
      args: ["demo", "--nodes", "2", "--pods-per-node", "1"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      await readUntil(reader, "press Ctrl-C", 90_000);
      const daemons = demoDaemons();
      assert.equal(daemons.length, 2);
      const killed = performance.now();
      Deno.kill(daemons[1], "SIGKILL");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const status = await Promise.race([
        child.status,
        new Promise<never>((_, rej) => {
          timer = setTimeout(() => rej(new Error("the demo still runs 10 s after")), 10_000);
        }),
      ]).finally(() => clearTimeout(timer));
      const took = performance.now() - killed;
      const err = await stderr;
      assert.equal(status.code, 1, err);
      assert.match(err, /weavets demo: the daemon of wtdemo-n\d exited \(signal SIGKILL\)/);
      // Includes the teardown (the other daemon stopped, 4 namespaces removed).
      assert.ok(took <= 2000, `the demo took ${took.toFixed(0)} ms to stop`);
      console.log(`demo stopped ${took.toFixed(0)} ms after its daemon was killed`);
      assertNothingLeft();
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await child.status;
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
      if (namespacesWithPrefix(PREFIX).length || demoDaemons().length) await demo(["down"]);
    }
  },
});

Deno.test({
  name: "weavets demo killed with SIGKILL: a second demo refuses the taken names; " +
    "'demo down' removes everything",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    assertNoDemoRunning();
    const child = new Deno.Command(weavetsBin(), {
      args: ["demo", "--nodes", "2", "--pods-per-node", "1"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      // Read until the demo says it stays up.
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let out = "";
      const deadline = Date.now() + 60_000;
      while (!out.includes("press Ctrl-C")) {
        const timeout = new Promise<never>((_, rej) =>
          setTimeout(
            () => rej(new Error(`demo not up within 60 s:\n${out}`)),
            deadline - Date.now(),
          )
        );
        const { value, done } = await Promise.race([reader.read(), timeout]);
        if (done) throw new Error(`demo exited before it was up:\n${out}`);
        out += value;
      }
      child.kill("SIGKILL");
      await child.status;
      reader.releaseLock();
      // What an interrupted demo leaves: its namespaces and its daemons.
      assert.equal(namespacesWithPrefix(PREFIX).length, 5, "underlay + 2 nodes + 2 pods");
      assert.equal(demoDaemons().length, 2, "both daemons outlive the killed demo");

      const again = await demo(["--once", "--nodes", "1", "--pods-per-node", "1"]);
      assert.equal(again.code, 1, again.stdout + again.stderr);
      assert.match(again.stderr, /wtdemo-u.*already exist/);
      assert.match(again.stderr, /weavets demo down/);
      assert.equal(namespacesWithPrefix(PREFIX).length, 5, "the refused demo touched nothing");
      assert.equal(demoDaemons().length, 2);

      const down = await demo(["down"]);
      assert.equal(down.code, 0, down.stdout + down.stderr);
      assert.match(down.stdout, /removed 5 namespaces and 2 recorded daemons/);
      assertNothingLeft();
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await child.status;
      await child.stderr.cancel().catch(() => {});
      if (namespacesWithPrefix(PREFIX).length || demoDaemons().length) await demo(["down"]);
    }
  },
});
