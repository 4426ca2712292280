/**
 * Issue 12, a non-peer without the password (run by non_peer_test.ts on its cluster): resource
 * attacks on the control port of a 3-node cluster, from an attacker namespace on its underlay. Stalled handshakes while a real peer
 * (re)joins, fake peers filling --conn-limit while a real peer rejoins, half-sent large frames
 * (RSS), and a maximal topology message (status latency, mesh connections). Negative control: each
 * step checks that the flood reached the victim (sockets opened, handshakes completed, bytes
 * accepted or the connection refused), so a pass is the protection's doing.
 */
import { describeCause } from "../../net/cause.ts";
import assert from "node:assert/strict";
import { Cluster } from "../../cli/demo/cluster.ts";
import { MAX_FRAME, MAX_UNKNOWN_FRAME } from "../../net/mesh/codec.ts";
import { waitFullMesh } from "../e2e/e2e.ts";
import {
  type Attacker,
  b64,
  daemonPid,
  established,
  logMark,
  logSince,
  peers,
  rssBytes,
  sleep,
  startClient,
  watchStatus,
} from "./attacker.ts";
import { attackStep } from "./pending.ts";

/** The cluster's --conn-limit: small, so filling it takes few fake peers. */
export const CONN_LIMIT = 24;
const MB = 1 << 20;
type Node = Cluster["nodes"][number];

/** Restarts `node`'s daemon and waits until `peer` lists it as established; returns seconds. */
async function rejoin(c: Cluster, node: Node, peer: Node, ms: number): Promise<number> {
  await c.stopDaemon(node, "SIGTERM");
  const marks = [logMark(node), logMark(peer)];
  const t0 = performance.now();
  c.startDaemon(node);
  try {
    await Cluster.waitFor(
      `${node.name} to be established with ${peer.name}`,
      async () => (await established(peer)).includes(Cluster.peerName(node.index)),
      ms,
      250,
    );
  } catch (e) {
    // What both ends logged about each other meanwhile: for whoever fixes it.
    const about = (n: Node, i: number, other: Node) =>
      logSince(n, marks[i]).split("\n").filter((l) =>
        l.includes(other.underlayIp) || l.includes(Cluster.peerName(other.index)) ||
        /refus|limit/.test(l)
      ).slice(-6).join("\n");
    throw new Error(
      `${describeCause(e)}\n${node.name} logged:\n${about(node, 0, peer)}\n` +
        `${peer.name} logged:\n${about(peer, 1, node)}`,
    );
  }
  return (performance.now() - t0) / 1000;
}

/** The resource attacks as steps of `t`, on a cluster started with `--conn-limit CONN_LIMIT`. */
export async function floodSteps(t: Deno.TestContext, c: Cluster, a: Attacker) {
  const [n1, n2, n3] = c.nodes;
  await attackStep(
    t,
    "stall-flood",
    "200 sockets that send 3 bytes and stall: n3 " +
      "restarts and joins n1 during the flood",
    async () => {
      await waitFullMesh(c, 60_000); // each step starts from a whole mesh
      const stopFile = `${await Deno.makeTempDir({ prefix: "wtatk-" })}/stop`;
      // Every node's accept loop is flooded: whichever side dials, someone must accept.
      const floods = c.nodes.map((n) =>
        startClient<{ opened: number; refusedFast: number; maxHeldMs: number }>(
          a.netns,
          "mesh",
          {
            cmd: "stall",
            host: n.underlayIp,
            count: 200,
            bytes: b64(new TextEncoder().encode("wea")),
            durationMs: 45_000,
            maxOpens: 30_000,
            stopFile,
          },
          90_000,
        )
      );
      await sleep(4_000); // the flood holds its sockets (they take 10 s to time out today)
      let secs: number | undefined;
      let error = "";
      try {
        secs = await rejoin(c, n3, n1, 30_000);
      } catch (e) {
        error = describeCause(e);
      }
      await Deno.writeTextFile(stopFile, "");
      const f = await Promise.all(floods.map((x) => x.result));
      await Deno.remove(stopFile.replace(/\/stop$/, ""), { recursive: true });
      console.log(`  floods: ${JSON.stringify(f)}; n3 joined after ${secs ?? "-"} s`);
      // Negative control: the flood reached every node's accept loop all along.
      for (const x of f) assert.ok(x.opened >= 200, "the flood opened its sockets");
      assert.ok(secs !== undefined, `n3 could not join n1 during the flood: ${error}`);
      await Cluster.waitFor(
        "n3 back with n2",
        async () => (await established(n2)).includes(Cluster.peerName(3)),
        30_000,
      );
    },
  );

  await attackStep(
    t,
    "conn-limit",
    `fake peers fill --conn-limit ${CONN_LIMIT}: n3 ` +
      "restarts and rejoins n1 while they hold",
    async () => {
      await waitFullMesh(c, 60_000); // each step starts from a whole mesh
      const fill = startClient<{ established: number; survived: number; refused: unknown }>(
        a.netns,
        "mesh",
        { cmd: "fill", host: n1.underlayIp, count: CONN_LIMIT + 4, holdMs: 25_000 },
        120_000,
      );
      // Until the fake peers are in (or refused): n1's connection count settles.
      await sleep(8_000);
      let secs: number | undefined;
      let error = "";
      try {
        secs = await rejoin(c, n3, n1, 15_000);
      } catch (e) {
        error = describeCause(e);
      }
      const f = await fill.result;
      console.log(`  fill: ${JSON.stringify(f)}; n3 rejoined after ${secs ?? "-"} s`);
      // Negative control: the fake peers got as far as the victim's admission.
      assert.ok(
        f.established > 0 || Object.keys(f.refused as object).length > 0,
        "the fake peers reached n1",
      );
      assert.ok(secs !== undefined, `n3 could not rejoin n1: ${error}`);
    },
  );

  await attackStep(
    t,
    "half-frames",
    "10 fake peers each send 31 MiB of a 32 MiB frame " +
      "and stall: n1's RSS grows < 50 MB",
    async () => {
      await waitFullMesh(c, 60_000); // each step starts from a whole mesh
      const pid = daemonPid(n1);
      const before = rssBytes(pid);
      const half = startClient<
        { established: number; failed: number; sent: number; survived: number }
      >(
        a.netns,
        "mesh",
        {
          cmd: "half",
          host: n1.underlayIp,
          count: 10,
          frameLen: MAX_FRAME,
          sendLen: 31 * MB,
          holdMs: 10_000,
        },
        120_000,
      );
      let peak = before;
      let done = false;
      half.result.finally(() => (done = true));
      while (!done) {
        peak = Math.max(peak, rssBytes(pid));
        await sleep(250);
      }
      const h = await half.result;
      const grew = (peak - before) / MB;
      console.log(`  half frames: ${JSON.stringify(h)}; n1 RSS +${grew.toFixed(0)} MB`);
      // Negative control: the handshakes reached n1 (established, or refused by it).
      assert.equal(h.established + h.failed, 10, "every fake peer reached n1");
      assert.ok(grew < 50, `n1's RSS grew by ${grew.toFixed(0)} MB (sent ${h.sent} bytes)`);
    },
  );

  await maxTopologyStep(t, c, a);
}

/** The maximal topology message (issue 12): /status answers and no mesh connection drops. */
export async function maxTopologyStep(t: Deno.TestContext, c: Cluster, a: Attacker) {
  const n1 = c.nodes[0];
  await attackStep(
    t,
    "max-topology",
    "a maximal topology message: /status on every node " +
      "answers in < 1 s throughout and no mesh connection drops",
    async () => {
      await waitFullMesh(c, 60_000); // each step starts from a whole mesh
      const marks = c.nodes.map(logMark);
      const watch = watchStatus(c.nodes);
      const pids = c.nodes.map(daemonPid);
      const before = pids.map(rssBytes);
      const known0 = (await peers(n1)).length;
      const r = await startClient<
        {
          established: boolean;
          bytes: number;
          entries: number;
          links: number;
          closed: string | null;
        }
      >(
        a.netns,
        "mesh",
        {
          cmd: "topo",
          host: n1.underlayIp,
          victimName: Cluster.peerName(1),
          entries: 0,
          // The victim does not know the attacker: the largest frame it takes from it.
          maxFrame: MAX_UNKNOWN_FRAME,
          holdMs: 8_000,
        },
        180_000,
      ).result;
      await sleep(5_000);
      // Negative control: the victim took the message in (its topology grew), or refused the
      // attacker's connection (then nothing could reach the parser).
      const known = (await peers(n1)).length;
      const { worst, failures } = await watch.finish();
      const rss = pids.map((p, i) => ((rssBytes(p) - before[i]) / MB).toFixed(0));
      const drops = c.nodes.flatMap((n, i) =>
        logSince(n, marks[i]).split("\n").filter((l) =>
          l.includes("connection closed") &&
          c.nodes.some((m) => l.includes(Cluster.peerName(m.index)))
        )
      );

      console.log(
        `  topology message of ${r.entries} entries × ${r.links} links, ` +
          `${(r.bytes / 1e6).toFixed(1)} MB (victim: ${r.closed ?? "kept"}); ` +
          `n1 knew ${known0} peers, then ${known}; ` +
          `slowest /status: ${[...worst].map(([n, ms]) => `${n} ${ms.toFixed(0)} ms`)}; ` +
          `RSS +${rss.join("/")} MB; mesh connections dropped: ${drops.length}`,
      );
      const about = logSince(n1, marks[0]).split("\n").filter((l) =>
        /topology|forg|rejected|02:ff:00:0b:b8:99/.test(l)
      ).slice(0, 5);
      assert.ok(
        known > known0 || !r.established,
        `the message reached n1's topology; n1's log:\n${about.join("\n")}`,
      );
      assert.deepEqual(failures, [], "every /status answered 200");
      for (const [n, ms] of worst) assert.ok(ms < 1000, `${n}: /status took ${ms} ms`);
      assert.deepEqual(drops, [], "mesh connections dropped");
    },
  );
}
