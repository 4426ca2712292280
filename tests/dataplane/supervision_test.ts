/**
 * Root test (issue 13): a userspace-path Worker that dies inside the real daemon is restarted with
 * its state. Two nodes, encrypted, the real daemon (mesh over TCP); node 0's Workers run under
 * fault_worker.ts, which throws from inside the Worker when the test drops a file. For each of
 * the rx and the tx Worker: readiness (GET /status, watched every 10 ms from inside the node) goes
 * to 503 naming the dead Worker and back to 200 within 2 s, the restart is counted in
 * weavets_sleeve_worker_restarts_total, and pods talk again both ways — under the same keys, so
 * the peer refused nothing as a replay: the replacement took up the message counter where the dead
 * one left it (a restart from 0 would be refused until the next reconnection).
 */
import assert from "node:assert/strict";
import { IS_ROOT } from "../harness/netns.ts";
import { sh } from "../harness/sh.ts";
import { until } from "../harness/wait.ts";
import { Cluster, ping, underlayIp } from "./cluster.ts";
import { jsonLines } from "./json_lines.ts";

const WATCH = new URL("./ready_watch.ts", import.meta.url).pathname;

/** The node's metric `name{labels}` from its metrics endpoint. */
async function metric(node: string, sample: string): Promise<number> {
  const text = await sh(
    "ip",
    "netns",
    "exec",
    node,
    "curl",
    "-sf",
    "http://127.0.0.1:6782/metrics",
  );
  const line = text.split("\n").find((l) => l.startsWith(sample + " "));
  return line ? Number(line.split(" ")[1]) : NaN;
}

Deno.test({
  name:
    "supervision: an rx or tx Worker killed inside the daemon is back within 2 s with its state; readiness 503 in between; restarts counted",
  ignore: !IS_ROOT,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const faultDir = await Deno.makeTempDir({ prefix: "wtsup-" });
    await Deno.mkdir(`${faultDir}/n0`);
    await Deno.mkdir(`${faultDir}/n1`);
    const c = await Cluster.start({
      nodes: 2,
      podsPerNode: 1,
      fastdp: false,
      password: "supervise-pw",
      daemon: true,
      prefix: "wtsup",
      faultDir,
    });
    const [a, b] = c.pods;
    const watch = new Deno.Command("ip", {
      args: ["netns", "exec", c.nodes[0], Deno.execPath(), "run", "-A", WATCH, "90"],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    try {
      const changes = jsonLines(watch.stdout)[Symbol.asyncIterator]();
      const next = async () =>
        (await changes.next()).value as { code: number; reason: string | null; at: number };
      // The watcher's first line is the state now: wait for the whole path to be up.
      let s = await next();
      while (s.code !== 200) s = await next();
      await until("pods talk", () => ping(a, b), 30_000, 100);
      for (const role of ["rx", "tx"] as const) {
        const t0 = Date.now();
        await Deno.writeTextFile(`${faultDir}/n0/${role}`, "");
        const down = await next();
        assert.equal(down.code, 503, JSON.stringify(down));
        assert.match(down.reason ?? "", new RegExp(`${role} Worker died \\(.*fault injected`));
        const up = await next();
        assert.equal(up.code, 200, JSON.stringify(up));
        const back = up.at - t0;
        console.log(`  ${role}: 503 for ${up.at - down.at} ms, ready ${back} ms after the fault`);
        assert.ok(back < 2000, `${role} Worker back after ${back} ms`);
        assert.equal(
          await metric(c.nodes[0], `weavets_sleeve_worker_restarts_total{role="${role}"}`),
          1,
        );
        assert.ok(await ping(a, b, 2) || await ping(a, b, 2), `a → b after the ${role} restart`);
        assert.ok(await ping(b, a, 2) || await ping(b, a, 2), `b → a after the ${role} restart`);
      }
      const peer = (await c.status(1)).sleeve as Record<string, number>;
      assert.equal(peer.rxReplayed, 0, `node 1 refused replays: ${JSON.stringify(peer)}`);
      assert.equal(peer.rxAuthFailed, 0);
      const self = (await c.status(0)).sleeve as Record<string, number>;
      assert.equal(self.rxInternal + self.txInternal, 0);
      const report = await c.status(0);
      assert.deepEqual(report.sleeveRestarts, { tx: 1, rx: 1 });
      assert.equal(report.sleeveHealth, null);
    } finally {
      watch.stdin.close();
      await watch.status;
      await c.stop();
      await Deno.remove(faultDir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "refusals: 3000 datagrams from a peer's address naming no peer cost counters and one log line, not 3000",
  ignore: !IS_ROOT,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const c = await Cluster.start({ nodes: 2, podsPerNode: 0, fastdp: false, prefix: "wtref" });
    try {
      const before = ((await c.status(0)).sleeve as Record<string, number>).rxUnknownSender;
      // A well-formed one-fragment message whose sender is no peer, 3000 times from node 1.
      const script = `
        import dgram from "node:dgram";
        const d = new Uint8Array(42 + 40);
        d.set([0x58, 0, 2, 0x66, 0, 0, 0, 9], 0);
        d[36] = 16; d[37] = 4; d[39] = 1; d[41] = 40;
        const s = dgram.createSocket("udp4");
        for (let i = 0; i < 3000; i++) {
          await new Promise((r) => s.send(d, 6783, "${underlayIp(0)}", r));
        }
        s.close();`;
      const t0 = Date.now();
      await sh("ip", "netns", "exec", c.nodes[1], Deno.execPath(), "eval", script);
      let refused = 0;
      await until(
        "the refusals are counted",
        async () => {
          refused = ((await c.status(0)).sleeve as Record<string, number>).rxUnknownSender - before;
          return refused >= 2500; // UDP may drop a few
        },
        20_000,
        100,
      );
      const lines = c.drivers[0]!.log.filter((l) => l.includes("userspace path refused datagrams"));
      console.log(`  ${refused} refused, ${lines.length} line(s): ${lines[0]}`);
      // One at once, then at most one per 10 s while it goes on.
      assert.ok(lines.length >= 1, "the refusals are logged");
      assert.ok(lines.length <= 1 + Math.floor((Date.now() - t0) / 10_000), lines.join("\n"));
      assert.match(lines[0], new RegExp(`"source":"${underlayIp(1).replaceAll(".", "\\.")}"`));
      assert.match(lines[0], /unknown_sender/);
    } finally {
      await c.stop();
    }
  },
});
