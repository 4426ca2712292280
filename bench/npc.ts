/**
 * NetworkPolicy benchmark (root), in one run, with 1,000 policies over 5,000 pods on 20 nodes
 * (net/npc/testing/workload.ts; one node's share of pods is local, the rest are peers elsewhere):
 * 1. the engine and the kernel in a throwaway namespace: full compile + load (goal ≤ 1 s), and
 *    one policy change compiled and applied (goal ≤ 50 ms), over CHANGES changes;
 * 2. two real daemons (`--kube`, against the test-double API server holding that load): their
 *    first full load, a policy change from the API to the kernel, the daemon's RSS (goal
 *    ≤ 150 MB);
 * 3. fast-path pod-to-pod TCP (iperf3) between policed pods on the two nodes, with the rules and
 *    with the daemons restarted with --no-npc (the table removed; the same connection tracking:
 *    masquerading keeps it on), interleaved: goal ≥ 0.9×. Last, the daemons' RSS with the load
 *    against the same daemons with --no-npc.
 *   deno run -A bench/npc.ts [--seconds N] [--changes N] [--rounds N] [--write]
 *   (--write appends to bench/RESULTS-npc.md)
 */
import { Namespaces } from "../tests/harness/netns.ts";
import { iperf3 } from "./iperf.ts";
import { inNetns } from "../net/linux/mod.ts";
import { runNft } from "../net/linux/nftables.ts";
import { PolicyEngine } from "../net/npc/engine.ts";
import { elementCount } from "../net/npc/elements.ts";
import { networkPolicySchema, toPolicy } from "../net/npc/objects.ts";
import { syncModel } from "../net/npc/testing/sync.ts";
import { diffScript, fullScript } from "../net/npc/ruleset.ts";
import { appPolicy, BENCH_SIZE, workload } from "../net/npc/testing/workload.ts";
import { type NpcCluster, withNpcCluster } from "../tests/npc/npc_cluster.ts";

const args = Deno.args;
const opt = (name: string, dflt: number) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) || dflt : dflt;
const SECONDS = opt("--seconds", 4);
const CHANGES = opt("--changes", 20);
const ROUNDS = opt("--rounds", 3);
const WRITE = args.includes("--write");

const w = workload(BENCH_SIZE);
const lines: string[] = [];
const say = (l: string) => {
  console.log(l);
  lines.push(l);
};
const ms = (x: number) => `${Math.round(x)} ms`;
const pct = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

/** A policy of namespace ns-0 about an app with pods on the first node, changed each time. */
const changed = (i: number) => appPolicy("ns-0", 0, 1 + (i % 4), i + 1);

function engineAndKernel(): void {
  const ns = new Namespaces("wtnb");
  try {
    const path = `/run/netns/${ns.add("k")}`;
    const engine = new PolicyEngine({ node: w.nodeNames[0], supported: (p) => p !== "SCTP" });
    const m = engine.model;
    syncModel(m, w);
    const fulls: number[] = [];
    let elements = 0;
    for (let round = 0; round < 3; round++) {
      engine.reset();
      const t0 = performance.now();
      const c = engine.commit();
      inNetns(path, () => runNft(fullScript(c.elements)));
      fulls.push(performance.now() - t0);
      elements = elementCount(c.elements);
    }
    const changes: number[] = [];
    let changedElements = 0;
    for (let i = 0; i < CHANGES; i++) {
      const t0 = performance.now();
      m.upsertPolicy(toPolicy(networkPolicySchema.parse(changed(i))));
      const c = engine.commit();
      inNetns(path, () => runNft(diffScript(c.diff!)));
      changes.push(performance.now() - t0);
      changedElements += c.diff!.count;
    }
    say(
      `| full compile + load (${elements} set elements, median of 3) | ${
        ms(pct(fulls, 0.5))
      } | ≤ 1 s |`,
    );
    say(
      `| one policy change, compile + apply (median / p99 / max of ${CHANGES}, ` +
        `${Math.round(changedElements / CHANGES)} elements each) | ` +
        `${ms(pct(changes, 0.5))} / ${ms(pct(changes, 0.99))} / ${
          ms(Math.max(...changes))
        } | ≤ 50 ms |`,
    );
  } finally {
    ns.cleanup();
  }
}

async function npcStatus(n: NpcCluster, node: number) {
  const r = await n.c.cli(n.c.nodes[node], ["status", "npc", "--json"], 15_000);
  return JSON.parse(r.stdout);
}

/**
 * Flips a policy between allowing bench/a → bench/b on TCP 80 and not, and measures when new
 * connections get the new answer: a probe (timeout 200 ms, under TCP's first retransmission)
 * starts every 20 ms; the time is the start of the first probe from which on all agree.
 */
async function flips(n: NpcCluster): Promise<string> {
  const [a, b] = [n.pod("bench/a"), n.pod("bench/b")];
  const times: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const allowed = i % 2 === 0;
    const t0 = performance.now();
    n.putPolicy("bench", "flip", {
      podSelector: { matchLabels: { app: "iperf" } },
      policyTypes: ["Ingress", "Egress"],
      ingress: [{ ports: [{ port: allowed ? 80 : 82 }] }],
      egress: [{ ports: [{ port: allowed ? 80 : 82 }] }],
    });
    const probes: Array<{ at: number; ok: Promise<boolean> }> = [];
    while (performance.now() - t0 < 3000) {
      probes.push({
        at: performance.now() - t0,
        ok: n.prober.probe(a.pod.netns, b.ip, "TCP", 80, 200),
      });
      await new Promise((r) => setTimeout(r, 20));
      const tail = probes.slice(-10);
      if (
        tail.length === 10 &&
        (await Promise.all(tail.map((p) => p.ok))).every((ok) => ok === allowed)
      ) break;
    }
    const results = await Promise.all(probes.map((p) => p.ok));
    let first = results.length;
    while (first > 0 && results[first - 1] === allowed) first--;
    times.push(first < results.length ? probes[first].at : NaN);
  }
  n.deletePolicy("bench", "flip");
  return `${ms(pct(times, 0.5))} / ${ms(Math.max(...times))}`;
}

/** Resident memory in MB (10^6 bytes, the goal's unit; /proc says kB for KiB). */
function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) * 1024 / 1e6 : NaN;
}

async function iperf(n: NpcCluster, from: string, to: string): Promise<number> {
  const [a, b] = [n.pod(from), n.pod(to)];
  const name = (netns: string) => netns.split("/").pop()!;
  const j = await iperf3(name(b.pod.netns), name(a.pod.netns), b.ip, SECONDS);
  return j.end.sum_received.bits_per_second / 1e9;
}

async function daemons(): Promise<void> {
  await withNpcCluster({
    nodes: 2,
    namespaces: { bench: {} },
    // Pod addresses of the load are 10.32-10.51; the real pods get theirs elsewhere.
    daemonArgs: ["--ipalloc-range", "10.96.0.0/16"],
    populate(api, nodes) {
      const rename = new Map(w.nodeNames.slice(0, 2).map((n, i) => [n, nodes[i]]));
      for (const o of w.namespaces) api.namespaces.put(o);
      for (const o of w.pods) {
        api.pods.put({
          ...o,
          spec: { ...o.spec, nodeName: rename.get(o.spec.nodeName) ?? o.spec.nodeName },
        });
      }
      for (const o of w.policies) api.networkPolicies.put(o);
    },
  }, async (n) => {
    for (const node of [0, 1]) {
      const s = await npcStatus(n, node);
      say(
        `| daemon ${node + 1}: first full load after listing (${s.localPods} local pods, ` +
          `${
            Object.values(s.setElements as Record<string, number>).reduce((a, b) => a + b, 0)
          } elements) | ` +
          `${ms(s.fullLoadMs)} | ≤ 1 s |`,
      );
    }
    // Changes through the API, the daemon's own count of event-to-kernel time: other policies of
    // the load, and (below, seen by a probe) one about the two real pods.
    for (let i = 0; i < CHANGES; i++) {
      const before = (await npcStatus(n, 0)).applies;
      n.api.networkPolicies.put(changed(i + 100));
      while ((await npcStatus(n, 0)).applies === before) {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const s = await npcStatus(n, 0);
    say(
      `| policy change, daemon's event to kernel (p50 / p99 of ${s.changeToKernelMs.samples}), ` +
        `last compile + apply | ${s.changeToKernelMs.p50} / ${s.changeToKernelMs.p99} ms, ` +
        `${s.lastApplyMs} ms | ≤ 50 ms |`,
    );
    // Idle a while: what the daemon keeps, not the peak of the first list (V8 gives memory back
    // after some idle time).
    await new Promise((r) => setTimeout(r, 30_000));
    const rss = [0, 1].map((i) => rssMB(n.c.nodes[i].daemon!.pid));

    // Two policed pods, one per node: every new connection checked, then established.
    await n.addPod(0, "bench", "a", { app: "iperf" });
    await n.addPod(1, "bench", "b", { app: "iperf" });
    n.putPolicy("bench", "iperf", {
      podSelector: { matchLabels: { app: "iperf" } },
      policyTypes: ["Ingress", "Egress"],
      ingress: [{
        from: [{ podSelector: { matchLabels: { app: "iperf" } } }],
        ports: [{ port: 5201 }],
      }],
      egress: [{
        to: [{ podSelector: { matchLabels: { app: "iperf" } } }],
        ports: [{ port: 5201 }],
      }],
    });
    const policed = await n.c.cli(n.c.nodes[0], ["policy", "check", "bench/a", "bench/b", "5201"]);
    if (policed.code !== 0) throw new Error(`bench/a cannot reach bench/b: ${policed.stdout}`);
    say(
      `| policy change, API write to new connections getting the new answer (p50 / max of ` +
        `${CHANGES}, probed every 20 ms) | ${await flips(n)} | ≤ 1 s |`,
    );
    // Interleaved: with the rules, then the same daemons restarted with --no-npc (the table
    // removed; connection tracking stays on for masquerading, as on any Kubernetes node).
    const withNpc: number[] = [];
    const without: number[] = [];
    const restart = async (flags: string[]) => {
      for (const node of n.c.nodes) {
        await n.c.stopDaemon(node, "SIGTERM");
        n.c.startDaemon(node, flags);
      }
      for (const node of n.c.nodes) await n.c.waitReady(node, 120_000);
    };
    for (let round = 0; round < ROUNDS; round++) {
      if (round > 0) await restart([]);
      withNpc.push(await iperf(n, "bench/a", "bench/b"));
      await restart(["--no-npc"]);
      without.push(await iperf(n, "bench/a", "bench/b"));
    }
    const med = (xs: number[]) => pct(xs, 0.5);
    say(
      `| fast-path TCP between policed pods / without the rules (median of ${ROUNDS} ` +
        `interleaved, ${SECONDS} s) | ${med(withNpc).toFixed(2)} / ${med(without).toFixed(2)} ` +
        `Gbit/s = ${(med(withNpc) / med(without)).toFixed(2)}× | ≥ 0.9× |`,
    );

    // Still --no-npc: what the load itself costs the daemon in memory.
    await new Promise((r) => setTimeout(r, 30_000));
    for (const i of [0, 1]) {
      say(
        `| daemon ${i + 1} RSS with the load / the same daemon with --no-npc | ` +
          `${rss[i].toFixed(0)} / ${rssMB(n.c.nodes[i].daemon!.pid).toFixed(0)} MB | ≤ 150 MB |`,
      );
    }
  });
}

const load = Deno.loadavg()[0].toFixed(1);
say(`\n### ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, load average ${load}\n`);
say("| measurement | result | goal |");
say("| --- | ---: | --- |");
engineAndKernel();
await daemons();
if (WRITE) {
  await Deno.writeTextFile(new URL("./RESULTS-npc.md", import.meta.url), lines.join("\n") + "\n", {
    append: true,
  });
}
