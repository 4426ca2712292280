/**
 * The steps of the NetworkPolicy end-to-end tests (npc_e2e_test, npc_userspace_test): the
 * namespaces and pods, a matrix matched within a bound, the time a change takes to reach new
 * connections, the explanation of a denial, a stopped and restarted daemon.
 */
import assert from "node:assert/strict";
import { Cluster } from "../../cli/demo/cluster.ts";
import { inNetns } from "../../net/linux/mod.ts";
import { runNft } from "../../net/linux/nftables.ts";
import { FAMILY_TABLE } from "../../net/npc/ruleset.ts";
import { ALL_CASES, type Case, mismatches, type Reachability } from "./matrix.ts";
import type { NpcCluster, NpcPod } from "./npc_cluster.ts";

export const NAMESPACES = { x: { team: "red" }, y: { team: "blue" }, z: { team: "red" } };
/** Changes must reach new connections within this (the 1 s). */
export const CONVERGE_MS = 1000;

/** x/a, y/a, z/a on the first node; x/b, y/b, z/b on the second. */
export async function addPods(n: NpcCluster): Promise<void> {
  for (const name of ["a", "b"]) {
    for (const ns of ["x", "y", "z"]) await n.addPod(name === "a" ? 0 : 1, ns, name);
  }
}

/** Probes until the network matches the table, at most `withinMs` (a change propagating). */
export async function expectMatrix(
  n: NpcCluster,
  what: string,
  want: (c: Case) => Reachability,
  withinMs = 10_000,
): Promise<void> {
  const t0 = performance.now();
  let diff = await mismatches(n, ALL_CASES, want);
  while (diff.length > 0 && performance.now() - t0 < withinMs) {
    diff = await mismatches(n, ALL_CASES, want);
  }
  assert.deepEqual(diff, [], `${what}: the network differs from the expected table`);
  console.log(`  ${what}: table matched`);
}

/**
 * Makes a change in the API and measures when new TCP connections `from` → `to` start getting
 * the new answer: a probe (300 ms timeout, shorter than TCP's first retransmission) starts every
 * 50 ms; the time is the start of the first probe from which on every probe gets it.
 */
export async function convergence(
  n: NpcCluster,
  what: string,
  change: () => void,
  from: NpcPod,
  to: NpcPod,
  port: number,
  allowed: boolean,
): Promise<number> {
  const t0 = performance.now();
  change();
  const probes: Array<{ at: number; ok: Promise<boolean> }> = [];
  for (let i = 0; performance.now() - t0 < 5000; i++) {
    probes.push({
      at: performance.now() - t0,
      ok: n.prober.probe(from.pod.netns, to.ip, "TCP", port, 300),
    });
    await new Promise((r) => setTimeout(r, 50));
    if (i >= 10 && i % 5 === 0) {
      const last = await Promise.all(probes.slice(-10).map((p) => p.ok));
      if (last.every((ok) => ok === allowed)) break;
    }
  }
  const results = await Promise.all(probes.map((p) => p.ok));
  let first = results.length;
  while (first > 0 && results[first - 1] === allowed) first--;
  assert.ok(first < results.length - 5, `${what}: never converged`);
  const ms = Math.round(probes[first].at);
  console.log(`  ${what}: new connections got the new answer after ${ms} ms`);
  return ms;
}

/**
 * With default-deny ingress in x: `weavets policy check` gives the probes' answers and names the
 * policy; the blocked connections were logged with both pods and the policy, and counted.
 */
export async function explained(n: NpcCluster): Promise<void> {
  const node1 = n.c.nodes[1]; // x/b's node
  const denied = await n.c.cli(node1, ["policy", "check", "z/a", "x/b", "80/tcp"]);
  assert.equal(denied.code, 1, denied.stdout + denied.stderr);
  assert.match(denied.stdout, /z\/a \(.*\) -> x\/b \(.*\) TCP\/80: denied/);
  assert.match(denied.stdout, /ingress \(enforced on \S+-n2\): denied: selected by x\/deny/);
  assert.match(denied.stdout, /egress .*: no policy selects z\/a for egress/);
  // Asked on the other node: the same answer, computed for the node that enforces it.
  const elsewhere = await n.c.cli(n.c.nodes[0], [
    "policy",
    "check",
    "z/a",
    "x/b",
    "80/tcp",
    "--json",
  ]);
  assert.equal(JSON.parse(elsewhere.stdout).allowed, false);
  const allowed = await n.c.cli(node1, ["policy", "check", "x/b", "y/a", "81/udp"]);
  assert.equal(allowed.code, 0, allowed.stdout + allowed.stderr);

  const status = await n.c.cli(node1, ["status", "npc", "--json"]);
  const r = JSON.parse(status.stdout);
  assert.deepEqual(r.policiesInForce, [{ policy: "x/deny", ingress: ["x/b"], egress: [] }]);
  assert.ok(r.blocked.ingress > 0, `blocked counters: ${JSON.stringify(r.blocked)}`);
  const text = await n.c.cli(node1, ["status", "npc"]);
  assert.match(text.stdout, /x\/deny\s+ingress\s+x\/b/);

  await Cluster.waitFor("the blocked connection in the log", async () => {
    const lines = (await Deno.readTextFile(node1.logFile)).split("\n")
      .filter((l) => l.includes("connection blocked by network policy"))
      .map((l) => JSON.parse(l));
    return lines.some((l) =>
      l.direction === "ingress" && l.dstPod === "x/b" && l.srcPod && l.port &&
      l.policies.includes("x/deny")
    );
  }, 5000);
}

/**
 * Enforcement is kernel state: it outlives the daemon, and a restarted daemon replaces it in one
 * transaction once it has listed everything, so no connection is judged by a half-loaded state.
 */
export async function stopAndRestart(n: NpcCluster, all: () => Reachability): Promise<void> {
  n.putPolicy("x", "deny", {
    podSelector: {},
    ingress: [{
      from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "y" } } }],
    }],
  });
  const want = () =>
    all().expect({}, { namespace: "x" }, false).expect(
      { namespace: "y" },
      { namespace: "x" },
      true,
    );
  await expectMatrix(n, "before the restart", want);
  const node = n.c.nodes[1]; // holds x/b
  const [ya, za, xb] = ["y/a", "z/a", "x/b"].map((k) => n.pod(k));

  await n.c.stopDaemon(node, "SIGKILL");
  await expectMatrix(n, "daemon of x/b's node killed: enforcement stays", want, 0);

  // Probe an allowed and a denied pair into x/b all through the restart.
  let probing = true;
  const seen = { allowedDropped: 0, deniedPassed: 0, rounds: 0 };
  const loop = (async () => {
    while (probing) {
      const [ok, bad] = await Promise.all([
        n.prober.probe(ya.pod.netns, xb.ip, "TCP", 80, 1500),
        n.prober.probe(za.pod.netns, xb.ip, "TCP", 80, 300),
      ]);
      if (!ok) seen.allowedDropped++;
      if (bad) seen.deniedPassed++;
      seen.rounds++;
    }
  })();
  n.c.startDaemon(node);
  await n.c.waitReady(node, 60_000);
  await new Promise((r) => setTimeout(r, 2000));
  probing = false;
  await loop;
  console.log(`  restart: ${seen.rounds} probe rounds`);
  assert.deepEqual({ allowedDropped: seen.allowedDropped, deniedPassed: seen.deniedPassed }, {
    allowedDropped: 0,
    deniedPassed: 0,
  }, "the restart opened a window");
  await expectMatrix(n, "after the restart", want, 0);

  // The table removed from outside (nft flush ruleset, another tool): the daemon sees its
  // counters gone (checked every 5 s) and loads everything again.
  inNetns(node.netns, () => runNft(`delete table ${FAMILY_TABLE}`));
  await expectMatrix(n, "table deleted from outside: loaded again", want, 15_000);
  assert.match(await Deno.readTextFile(node.logFile), /network policy rules are gone/);
  n.deletePolicy("x", "deny");
  await expectMatrix(n, "a change after the restart", all);
}
