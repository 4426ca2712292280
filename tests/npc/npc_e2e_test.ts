/**
 * NetworkPolicy end to end (root): two nodes with real daemons run with `--kube` against the
 * test-double API server, six pods in three namespaces (each namespace on both nodes) attached
 * through the CNI plugin, TCP and UDP servers on ports 80 and 81 in each. For each policy set,
 * every ordered pair of pods is probed for every protocol and port, and the result must equal the
 * expected table, written the way the upstream Kubernetes e2e tests (test/e2e/network/netpol)
 * write theirs. Changes of policies, pod labels and namespace labels must reach new connections
 * within 1 s. A stopped daemon leaves enforcement in place; a restarted one takes over without a
 * moment when a denied connection passes or an allowed one is dropped; a table deleted from
 * outside is loaded again.
 */
import assert from "node:assert/strict";
import { Cluster } from "../../cli/demo/cluster.ts";
import { IS_ROOT } from "../harness/netns.ts";
import { inNetns } from "../../net/linux/mod.ts";
import { runNft } from "../../net/linux/nftables.ts";
import { FAMILY_TABLE } from "../../net/npc/ruleset.ts";
import { ALL_CASES, type Case, mismatches, Reachability } from "./matrix.ts";
import { type NpcCluster, type NpcPod, withNpcCluster } from "./npc_cluster.ts";

const NAMESPACES = { x: { team: "red" }, y: { team: "blue" }, z: { team: "red" } };
/** Changes must reach new connections within this (the 1 s). */
const CONVERGE_MS = 1000;

/** x/a, y/a, z/a on the first node; x/b, y/b, z/b on the second. */
async function addPods(n: NpcCluster): Promise<void> {
  for (const name of ["a", "b"]) {
    for (const ns of ["x", "y", "z"]) await n.addPod(name === "a" ? 0 : 1, ns, name);
  }
}

/** Probes until the network matches the table, at most `withinMs` (a change propagating). */
async function expectMatrix(
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
async function convergence(
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

Deno.test({
  name: "npc: connectivity matrices of representative policies; changes within 1 s; restart",
  ignore: !IS_ROOT,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withNpcCluster({ nodes: 2, namespaces: NAMESPACES }, async (n) => {
      await addPods(n);
      const pods = n.pods.map((p) => p.key);
      const all = () => new Reachability(pods, true);
      const x = { namespace: "x" };
      const none = () => {
        for (const p of n.api.networkPolicies.all()) {
          n.deletePolicy(p.metadata.namespace, p.metadata.name);
        }
      };
      await expectMatrix(n, "no policy", all);

      // Upstream: "should support a 'default-deny-ingress' policy".
      n.putPolicy("x", "deny", { podSelector: {} });
      await expectMatrix(n, "default-deny ingress in x", () => all().expect({}, x, false));
      await explained(n);

      // Upstream: "...allow traffic only from a different namespace, based on NamespaceSelector".
      n.putPolicy("x", "from-y", {
        podSelector: {},
        ingress: [{
          from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "y" } } }],
        }],
      });
      await expectMatrix(
        n,
        "allow into x from namespace y",
        () => all().expect({}, x, false).expect({ namespace: "y" }, x, true),
      );

      // Upstream: "...PodSelector and NamespaceSelector" (both in one peer), and Ports.
      none();
      n.putPolicy("x", "b-pods-on-80", {
        podSelector: { matchLabels: { pod: "a" } },
        ingress: [{
          from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: "b" } } }],
          ports: [{ port: 80 }],
        }],
      });
      await expectMatrix(n, "allow into x/a from pods b of any namespace on TCP 80", (c) => {
        const r = all().expect({}, { namespace: "x", pod: "a" }, false);
        return c.proto === "TCP" && c.port === 80
          ? r.expect({ pod: "b" }, { namespace: "x", pod: "a" }, true)
          : r;
      });

      // Upstream: "should allow ingress access on one named port" (by name and protocol).
      none();
      n.putPolicy("x", "named", {
        podSelector: {},
        ingress: [{ ports: [{ port: "serve-80-tcp" }, { protocol: "UDP", port: "serve-81-udp" }] }],
      });
      await expectMatrix(
        n,
        "named ports serve-80-tcp and serve-81-udp into x",
        (c) =>
          (c.proto === "TCP" && c.port === 80) || (c.proto === "UDP" && c.port === 81)
            ? all()
            : all().expect({}, x, false),
      );

      // endPort: a range of ports of one protocol.
      none();
      n.putPolicy("y", "range", {
        podSelector: { matchLabels: { pod: "a" } },
        ingress: [{
          from: [{ namespaceSelector: { matchLabels: { team: "red" } } }],
          ports: [{ protocol: "TCP", port: 80, endPort: 81 }],
        }],
      });
      const ya = { namespace: "y", pod: "a" };
      await expectMatrix(n, "TCP 80-81 (endPort) into y/a from the red namespaces", (c) => {
        const r = all().expect({}, ya, false);
        return c.proto === "TCP" ? r.expect(x, ya, true).expect({ namespace: "z" }, ya, true) : r;
      });

      // Upstream: "should enforce except clause while egress access to server in CIDR block".
      none();
      n.putPolicy("z", "egress-block", {
        podSelector: { matchLabels: { pod: "a" } },
        policyTypes: ["Egress"],
        egress: [{
          to: [{ ipBlock: { cidr: "10.32.0.0/12", except: [`${n.pod("x/b").ip}/32`] } }],
        }],
      });
      await expectMatrix(
        n,
        "egress of z/a to the pod range except x/b",
        () => all().expect({ namespace: "z", pod: "a" }, { namespace: "x", pod: "b" }, false),
      );

      // Upstream: "should deny egress from all pods in a namespace".
      none();
      n.putPolicy("z", "deny-egress", { podSelector: {}, policyTypes: ["Egress"] });
      await expectMatrix(
        n,
        "default-deny egress in z",
        () => all().expect({ namespace: "z" }, {}, false),
      );

      // Changes take effect on every node within 1 s (cross-node pairs: each node enforces its
      // own pods' side).
      none();
      await expectMatrix(n, "no policy again", all);
      const [xa, xb, yb, za, zb] = ["x/a", "x/b", "y/b", "z/a", "z/b"].map((k) => n.pod(k));
      const times: number[] = [];
      times.push(
        await convergence(
          n,
          "policy created (deny into x)",
          () => n.putPolicy("x", "deny", { podSelector: {} }),
          za,
          xb,
          80,
          false,
        ),
      );
      times.push(
        await convergence(
          n,
          "policy updated (allow pod=b on 80)",
          () =>
            n.putPolicy("x", "deny", {
              podSelector: {},
              ingress: [{
                from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: "b" } } }],
                ports: [{ port: 80 }],
              }],
            }),
          zb,
          xa,
          80,
          true,
        ),
      );
      times.push(
        await convergence(
          n,
          "pod label changed (z/a becomes pod=b)",
          () => n.setPodLabels("z/a", { pod: "b" }),
          za,
          xb,
          80,
          true,
        ),
      );
      times.push(
        await convergence(
          n,
          "pod label changed back",
          () => n.setPodLabels("z/a", { pod: "a" }),
          za,
          xb,
          80,
          false,
        ),
      );
      n.putPolicy("x", "deny", {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: "green" } } }] }],
      });
      await expectMatrix(
        n,
        "allow into x from team green (none yet)",
        () => all().expect({}, x, false),
      );
      times.push(
        await convergence(
          n,
          "namespace label changed (y becomes team green)",
          () => n.api.putNamespace("y", { team: "green" }),
          yb,
          xa,
          81,
          true,
        ),
      );
      times.push(
        await convergence(n, "policy deleted", () => n.deletePolicy("x", "deny"), za, xa, 80, true),
      );
      assert.ok(Math.max(...times) <= CONVERGE_MS, `changes took ${times.join(", ")} ms`);

      await stopAndRestart(n, all);
    });
  },
});

/**
 * With default-deny ingress in x: `weavets policy check` gives the probes' answers and names the
 * policy; the blocked connections were logged with both pods and the policy, and counted.
 */
async function explained(n: NpcCluster): Promise<void> {
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
async function stopAndRestart(n: NpcCluster, all: () => Reachability): Promise<void> {
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

Deno.test({
  name: "npc: the userspace data path is policed too, both ways",
  ignore: !IS_ROOT,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withNpcCluster({ nodes: 2, noFastdp: true, namespaces: NAMESPACES }, async (n) => {
      for (const ns of ["x", "y"]) {
        await n.addPod(0, ns, "a");
        await n.addPod(1, ns, "b");
      }
      const all = () => new Reachability(n.pods.map((p) => p.key), true);
      await expectMatrix(n, "no policy (userspace path)", all);
      n.putPolicy("x", "from-y", {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: "blue" } } }] }],
      });
      n.putPolicy("y", "only-to-a", {
        podSelector: { matchLabels: { pod: "b" } },
        policyTypes: ["Egress"],
        egress: [{ to: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: "a" } } }] }],
      });
      const yb = { namespace: "y", pod: "b" };
      await expectMatrix(
        n,
        "ingress into x from y, egress of y/b to pods a (userspace path)",
        () =>
          all()
            .expect({}, { namespace: "x" }, false)
            .expect({ namespace: "y" }, { namespace: "x" }, true)
            .expect(yb, {}, false)
            .expect(yb, { pod: "a" }, true),
      );
    });
  },
});
