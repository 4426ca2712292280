/**
 * The CRI view of pod start: RunPodSandbox latency through containerd (Debian's 1.6, its CRI
 * plugin and vendored libcni exec'ing the plugins, as kubelet's runtime does), weavets against
 * the reference bridge + host-local, in one run on one node. Two private containerds run side by
 * side in the node's namespace, one per network config (weavets as shipped but without the
 * chained portmap; the reference bridge with host-local), and the measurement alternates between
 * them round by round (ABBA), so drift and noise hit both alike.
 *
 * Per round and runtime: ROUND_SEQUENTIAL sandboxes one after another (concurrency 1), then 20 at
 * once (concurrency 20); each RunPodSandbox is timed at the CRI client, from request to answer
 * (what kubelet waits for). Sandboxes are stopped and removed between rounds, untimed. The ratio
 * is computed per round, and the table gives the pooled ratio with the spread of the per-round
 * ratios: a goal is "met" when the whole spread is under it, "not met" when all of it is over,
 * otherwise "not distinguishable at this noise".
 *
 * Also measured in the same rounds: an empty Deno program exec'd in the node namespace (at
 * concurrency 1 and 20), the floor of any plugin written for Deno, to say how much of what
 * weavets adds over the reference is the runtime's start.
 *
 *   sudo deno run -A bench/cri_latency.ts [--rounds 5] [--write] [--keep-log FILE] [--samples FILE]
 *
 * `--samples FILE` appends the run's per-round samples as one JSON line, so runs of two builds
 * (WEAVETS_BIN) alternated on a noisy machine can be judged together (bench/cri_combine.ts).
 *
 * weavets is what ships (bench/shipped.ts): install.sh's product, unless WEAVETS_BIN names one.
 *
 * Needs containerd, runc, busybox-static and containernetworking-plugins (tests/setup.sh).
 * `--write` appends the result to bench/RESULTS-cri.md.
 */
import type { Cluster } from "../cli/demo/cluster.ts";
import { spawnIn } from "../cli/demo/exec.ts";
import type { Conflist } from "../cli/demo/cni_runtime.ts";
import { REPO_ROOT } from "../tests/harness/binary.ts";
import { binaryKind, withShipped } from "./shipped.ts";
import { WEAVETS_ONLY, withCluster } from "../tests/e2e/e2e.ts";
import { CriNode, missingForCri } from "../tests/cri/cri_cluster.ts";
import { buildPauseImage } from "../tests/cri/pause_image.ts";
import {
  percentile,
  phaseMedians,
  pooled,
  REF,
  type Samples,
  type Served,
  sorted,
  spread,
  verdict,
  WEAVETS,
} from "./cri_stats.ts";

const args = Deno.args;
const flag = (name: string, dflt: number) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) || dflt : dflt;
const ROUNDS = flag("--rounds", 5);
const ROUND_SEQUENTIAL = flag("--sequential", 10);
const BURST = 20;
const WRITE = args.includes("--write");
/** `--keep-log FILE`: the node daemon's log is copied there (its per-phase lines, for profiling). */
const KEEP_LOG = args.includes("--keep-log") ? args[args.indexOf("--keep-log") + 1] : undefined;
const SAMPLES = args.includes("--samples") ? args[args.indexOf("--samples") + 1] : undefined;

const GOAL_P50 = 1.2;
const GOAL_P99_AT_20 = 1.3;

const EMPTY = "empty Deno program";

function referenceConflist(dataDir: string): Conflist {
  return {
    cniVersion: "0.4.0",
    name: "refnet",
    plugins: [{
      type: "bridge",
      bridge: "refbr",
      isGateway: true,
      ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.91.0.0/16" }]] },
    }],
  };
}

async function timeRun(node: CriNode, name: string): Promise<{ ms: number; id: string }> {
  const t0 = performance.now();
  const id = await node.cri.runPodSandbox({
    name,
    namespace: "default",
    uid: crypto.randomUUID(),
  });
  return { ms: performance.now() - t0, id };
}

async function removeAll(node: CriNode, ids: string[]): Promise<void> {
  await Promise.all(ids.map(async (id) => {
    await node.cri.stopPodSandbox(id);
    await node.cri.removePodSandbox(id);
  }));
}

let seq = 0;
/**
 * One round on one runtime: ROUND_SEQUENTIAL one after another, then BURST at once. `served`,
 * when given, collects what the node's daemon logged for the ADDs of each part.
 */
async function round(node: CriNode, s: Samples, served?: DaemonSide): Promise<void> {
  const c1: number[] = [];
  const ids: string[] = [];
  try {
    let mark = served?.mark();
    let cpu = served?.cpuMs();
    for (let i = 0; i < ROUND_SEQUENTIAL; i++) {
      const r = await timeRun(node, `b${seq++}`);
      ids.push(r.id);
      c1.push(r.ms);
    }
    if (served && mark !== undefined) {
      served.c1.push(...served.since(mark));
      served.c1Cpu += served.cpuMs() - cpu!;
    }
    await removeAll(node, ids.splice(0));
    mark = served?.mark();
    cpu = served?.cpuMs();
    const burst = await Promise.all(
      Array.from({ length: BURST }, () => timeRun(node, `b${seq++}`)),
    );
    ids.push(...burst.map((r) => r.id));
    if (served && mark !== undefined) {
      served.c20.push(...served.since(mark));
      served.c20Cpu += served.cpuMs() - cpu!;
    }
    s.c1.push(c1);
    s.c20.push(burst.map((r) => r.ms));
  } finally {
    await removeAll(node, ids);
  }
}

/** The empty Deno program exec'd in the node namespace, ROUND_SEQUENTIAL then BURST at once. */
async function emptyRound(netns: string, file: string, s: Samples): Promise<void> {
  const once = async () => {
    const t0 = performance.now();
    const child = spawnIn(netns, Deno.execPath(), ["run", "--no-config", file], {
      stdout: "null",
      stderr: "null",
    });
    await child.status;
    return performance.now() - t0;
  };
  const c1: number[] = [];
  for (let i = 0; i < ROUND_SEQUENTIAL; i++) c1.push(await once());
  s.c1.push(c1);
  s.c20.push(await Promise.all(Array.from({ length: BURST }, once)));
}

/**
 * The node daemon's own time per ADD it served (its debug "pod event" lines: from reading the
 * plugin's request to writing the answer), to tell the daemon's share from the plugin process's.
 */
class DaemonSide {
  c1: Served[] = [];
  c20: Served[] = [];
  /** The daemon's CPU time (user + system, ms) over each part: load-independent, unlike wall. */
  c1Cpu = 0;
  c20Cpu = 0;
  /** CPU time and wall time while the daemon served nothing (the empty-program rounds). */
  idleCpu = 0;
  idleMs = 0;
  constructor(readonly logFile: string, readonly pid?: number) {}
  cpuMs(): number {
    if (this.pid === undefined) return 0;
    // /proc/PID/stat: fields 14 and 15 (utime, stime) in clock ticks (100 per s), after "(comm)".
    const f = Deno.readTextFileSync(`/proc/${this.pid}/stat`).split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  }
  #adds(): Served[] {
    return Deno.readTextFileSync(this.logFile).split("\n")
      .filter((l) => l.includes('"pod event"') && l.includes('"command":"ADD"'))
      .map((l) => JSON.parse(l))
      .map((j) => ({
        ms: j.ms as number,
        phases: (j.phases ?? {}) as Record<string, number>,
        cpu: (j.cpu ?? {}) as Record<string, number>,
      }));
  }
  mark(): number {
    return this.#adds().length;
  }
  since(mark: number): Served[] {
    return this.#adds().slice(mark);
  }
}

async function main(): Promise<void> {
  if (Deno.uid() !== 0) {
    console.error("bench/cri_latency.ts needs root (network namespaces, containerd)");
    Deno.exit(1);
  }
  const missing = missingForCri();
  if (missing.length) {
    console.error(`bench/cri_latency.ts: missing ${missing.join(", ")} (run tests/setup.sh)`);
    Deno.exit(1);
  }
  await withShipped(measure);
}

async function measure(): Promise<void> {
  // The cluster's daemons log at debug: one "pod event" line per event served (DaemonSide).
  await withCluster({ nodes: 1, conflist: WEAVETS_ONLY }, async (c: Cluster) => {
    const node = c.nodes[0];
    const dir = `/run/${c.spec.prefix}`;
    const nodes: CriNode[] = [];
    try {
      Deno.mkdirSync(dir, { recursive: true });
      const image = await buildPauseImage(dir);
      const weavets = new CriNode(c, node, `${dir}/w`, WEAVETS_ONLY);
      const ref = new CriNode(c, node, `${dir}/r`, referenceConflist(`${dir}/hostlocal`));
      nodes.push(weavets, ref);
      for (const n of nodes) {
        await n.containerd.start();
        await n.containerd.importImage(image);
        // Warm-up outside the measurement (image unpack, first exec of each plugin, bridges).
        const w = await timeRun(n, `warm${seq++}`);
        await removeAll(n, [w.id]);
      }
      const emptyFile = `${dir}/empty.js`;
      Deno.writeTextFileSync(emptyFile, "");

      const samples = new Map<string, Samples>(
        [WEAVETS, REF, EMPTY].map((l) => [l, { c1: [], c20: [] }]),
      );
      const served = new DaemonSide(node.logFile, node.daemon?.pid);
      const started = performance.now();
      for (let r = 0; r < ROUNDS; r++) {
        // ABBA: each runtime goes first in every other round.
        const order = r % 2 === 0 ? [weavets, ref] : [ref, weavets];
        for (const n of order) {
          if (n === weavets) await round(n, samples.get(WEAVETS)!, served);
          else await round(n, samples.get(REF)!);
        }
        // The daemon serves nothing meanwhile: its background CPU rate (timers, polls).
        const [cpu0, t0] = [served.cpuMs(), performance.now()];
        await emptyRound(node.netns, emptyFile, samples.get(EMPTY)!);
        served.idleCpu += served.cpuMs() - cpu0;
        served.idleMs += performance.now() - t0;
        console.error(`round ${r + 1}/${ROUNDS} done (${secondsSince(started)} s)`);
      }
      const report = render(samples, served);
      console.log(report);
      if (WRITE) write(report);
      if (KEEP_LOG) Deno.copyFileSync(node.logFile, KEEP_LOG);
      if (SAMPLES) {
        const line = {
          bin: binaryKind(),
          load: Deno.loadavg(),
          samples: Object.fromEntries(samples),
        };
        Deno.writeTextFileSync(SAMPLES, JSON.stringify(line) + "\n", { append: true });
      }
    } finally {
      for (const n of nodes) await n.containerd.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  });
}

const secondsSince = (t0: number) => ((performance.now() - t0) / 1000).toFixed(0);

/** The result as markdown (pure over the samples). */
export function render(samples: Map<string, Samples>, served?: DaemonSide): string {
  const w = samples.get(WEAVETS)!, r = samples.get(REF)!, e = samples.get(EMPTY)!;
  const pw = pooled(w), pr = pooled(r), pe = pooled(e);
  const f = (x: number) => x.toFixed(0);
  const x = (a: number, b: number) => (a / b).toFixed(2);
  const sp = (s: { lo: number; hi: number }) => `${s.lo.toFixed(2)}–${s.hi.toFixed(2)}`;
  const p50 = (xs: number[]) => percentile(xs, 50);
  const p99 = (xs: number[]) => percentile(xs, 99);
  const s50c1 = spread(w.c1, r.c1, p50);
  const s50c20 = spread(w.c20, r.c20, p50);
  const s99c1 = spread(w.c1, r.c1, p99);
  const s99c20 = spread(w.c20, r.c20, p99);
  const rounds = w.c1.length;
  return [
    `### ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC — ${rounds} rounds ` +
    `(ABBA) of ${ROUND_SEQUENTIAL} sequential + ${BURST} at once per runtime, ` +
    `${navigator.hardwareConcurrency} CPUs, load ${loadAverage()}, containerd 1.6 CRI, weavets ` +
    `${binaryKind()}`,
    "",
    "RunPodSandbox in ms, request to answer at the CRI client (pooled over the rounds).",
    "",
    "| network | concurrency | p50 | p99 |",
    "|---|---|---|---|",
    `| ${WEAVETS} | 1 | ${f(pw.c1.p50)} | ${f(pw.c1.p99)} |`,
    `| ${REF} | 1 | ${f(pr.c1.p50)} | ${f(pr.c1.p99)} |`,
    `| ${WEAVETS} | 20 | ${f(pw.c20.p50)} | ${f(pw.c20.p99)} |`,
    `| ${REF} | 20 | ${f(pr.c20.p50)} | ${f(pr.c20.p99)} |`,
    "",
    "weavets / reference (pooled, and the spread of the per-round ratios):",
    "",
    "| concurrency | p50 | p50 spread | p99 | p99 spread |",
    "|---|---|---|---|---|",
    `| 1 | ${x(pw.c1.p50, pr.c1.p50)} | ${sp(s50c1)} | ${x(pw.c1.p99, pr.c1.p99)} | ` +
    `${sp(s99c1)} |`,
    `| 20 | ${x(pw.c20.p50, pr.c20.p50)} | ${sp(s50c20)} | ${x(pw.c20.p99, pr.c20.p99)} | ` +
    `${sp(s99c20)} |`,
    "",
    `Goals: p50 ≤ ${GOAL_P50}× at concurrency 1: ${verdict(s50c1, GOAL_P50)}; at 20: ` +
    `${verdict(s50c20, GOAL_P50)}. p99 at 20 ≤ ${GOAL_P99_AT_20}×: ` +
    `${verdict(s99c20, GOAL_P99_AT_20)}.`,
    "",
    `What weavets adds over the reference (p50): ${f(pw.c1.p50 - pr.c1.p50)} ms at ` +
    `concurrency 1, ${f(pw.c20.p50 - pr.c20.p50)} ms at 20; an empty Deno program exec'd in the ` +
    `node: p50 ${f(pe.c1.p50)} ms at 1, ${f(pe.c20.p50)} ms at 20 (p99 ${f(pe.c1.p99)} / ` +
    `${f(pe.c20.p99)} ms). libcni execs weavets once per ADD (more for CHECK/STATUS).`,
    "",
    ...(served && served.c1.length
      ? daemonLines(served.c1.map((a) => a.ms), served.c20.map((a) => a.ms)).concat(
        `The daemon's CPU time (user + system) per ADD: ` +
          `${(served.c1Cpu / served.c1.length).toFixed(1)} ms at concurrency 1, ` +
          `${
            (served.c20Cpu / Math.max(1, served.c20.length)).toFixed(1)
          } ms at 20 (10 ms ticks); ` +
          `its background (serving nothing) ${
            (served.idleCpu / served.idleMs * 1000).toFixed(1)
          } ` +
          `ms CPU per s.`,
        "",
        `Medians per phase (wall ms, an ADD's phase includes other ADDs' work interleaved on ` +
          `the daemon's thread), concurrency 1: ${phaseMedians(served.c1)}; at 20: ` +
          `${phaseMedians(served.c20)}. The daemon's CPU time per phase at concurrency 1 ` +
          `(medians, ms; one ADD at a time): ${phaseMedians(served.c1, "cpu")}.`,
        "",
      )
      : []),
  ].join("\n");
}

function daemonLines(c1: number[], c20: number[]): string[] {
  const f = (x: number) => x.toFixed(0);
  return [
    `The node daemon's own time per ADD (its log; the rest of the plugin's share is the ` +
    `plugin process): p50 ${f(percentile(sorted(c1), 50))} ms, p99 ` +
    `${f(percentile(sorted(c1), 99))} ms at concurrency 1 (${c1.length} ADDs); ` +
    `p50 ${f(percentile(sorted(c20), 50))} ms, p99 ` +
    `${f(percentile(sorted(c20), 99))} ms at 20 (${c20.length} ADDs).`,
    "",
  ];
}

function write(report: string): void {
  const path = `${REPO_ROOT}/bench/RESULTS-cri.md`;
  let existing: string;
  try {
    existing = Deno.readTextFileSync(path);
  } catch {
    existing = "# RunPodSandbox through containerd (bench/cri_latency.ts)\n\n" +
      "The latency a pod sees: weavets against the reference bridge + host-local, " +
      "interleaved in one run. `deno task bench` runs it after the plugin-alone bench " +
      "(bench/RESULTS-cni.md).\n";
  }
  Deno.writeTextFileSync(path, existing.trimEnd() + "\n\n" + report);
  new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", path] }).outputSync();
}

function loadAverage(): string {
  return Deno.loadavg().map((v) => v.toFixed(1)).join(" ");
}

if (import.meta.main) await main();
