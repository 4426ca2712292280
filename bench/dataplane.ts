/**
 * Data-plane benchmark (root): a 2-node topology in namespaces, iperf3 between one pod on each
 * node — TCP single stream, TCP 4 streams, UDP 64-byte packets/s — for: plain routed veth, a
 * hand-made kernel VXLAN, weavets fast path, weavets userspace, weavets userspace encrypted.
 * Each is printed as a ratio to the kernel VXLAN measured in the same run, with the CPU the
 * weavets node processes used. Bounded: SECONDS per measurement (default 4); always cleans up.
 * All five stay up and are measured in interleaved rounds (median of ROUNDS, default 3).
 * With --baseline REV, the userspace path (unencrypted and encrypted) of commit REV runs too, in
 * the same rounds, so a change to it is measured side by side with what it replaced (e.g. the
 * hardened receive path of sleeve v4 against 46a856a, the last commit before it).
 * Like for like: the weavets fast path runs with its masquerading on (nat table, so conntrack),
 * and is compared with the kernel VXLAN with conntrack on. Each goal is judged on the ratios of
 * the same round (paired: both measured within seconds of each other), stated as the median and
 * the range over rounds: "met" when every round's ratio meets it, "not met" when none does,
 * otherwise "not distinguishable at this noise".
 * With --allowlist, that fast path also runs with the daemon's input allow-list (the table
 * net/dataplane/node/allowlist.ts writes, the other node allowed), judged against the same
 * baseline (issue 13; bench/allowlist.ts measures the table alone).
 *   deno run -A bench/dataplane.ts [--seconds N] [--rounds R] [--baseline REV] [--allowlist]
 *   [--write]
 *   (--write appends to bench/RESULTS-dataplane.md)
 */
import { iperf3 } from "./iperf.ts";
import { medianInterval } from "./stats.ts";
import { Cluster, type Pod, underlayIp } from "../tests/dataplane/cluster.ts";
import { inputScript } from "../net/dataplane/node/allowlist.ts";
import {
  BASELINE_NAMES,
  conntrackCount,
  kernelBaseline,
  nftScript,
  type Target,
} from "./dataplane_kernel.ts";

const args = Deno.args;
const opt = (name: string, dflt: number) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) || dflt : dflt;
const SECONDS = opt("--seconds", 4);
const ROUNDS = opt("--rounds", 3);
const WRITE = args.includes("--write");
const BASELINE = args.includes("--baseline") ? args[args.indexOf("--baseline") + 1] : undefined;
const ALLOWLIST = args.includes("--allowlist");

interface Result {
  name: string;
  tcp1: number; // Gbit/s
  tcp4: number;
  pps: number; // received UDP 64-byte packets per second
  cpu?: { tcp1: number; tcp4: number; pps: number }; // % of one core, both nodes' weavets together
}

function cpuTicks(pids: number[]): number {
  let t = 0;
  for (const pid of pids) {
    try {
      const f = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
      t += Number(rest[11]) + Number(rest[12]); // utime + stime
    } catch {
      // gone
    }
  }
  return t;
}

type Key = "tcp1" | "tcp4" | "pps";
const IPERF_ARGS: Record<Key, string[]> = {
  tcp1: [],
  tcp4: ["-P", "4"],
  pps: ["-u", "-l", "64", "-b", "0"],
};

/** One measurement: the value (Gbit/s or packets/s) and the weavets CPU (% of one core). */
async function measureOnce(t: Target, key: Key): Promise<{ value: number; cpu: number }> {
  const t0 = cpuTicks(t.pids);
  const w0 = performance.now();
  const j = await iperf3(t.b, t.a, t.ip, SECONDS, IPERF_ARGS[key]);
  const secs = (performance.now() - w0) / 1000;
  const cpu = Math.round((cpuTicks(t.pids) - t0) / secs); // ticks are 1/100 s
  if (key === "pps") {
    const s = j.end.sum;
    return { value: Math.round((s.packets - s.lost_packets) / s.seconds), cpu };
  }
  return { value: j.end.sum_received.bits_per_second / 1e9, cpu };
}

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];

/** A checkout of commit `rev` of this repository in a temporary directory (git archive). */
async function checkout(rev: string): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const repo = new URL("..", import.meta.url).pathname;
  const dir = await Deno.makeTempDir({ prefix: "wtbench-" });
  const archive = new Deno.Command("git", {
    args: ["-C", repo, "archive", "--format=tar", rev],
    stdout: "piped",
  }).spawn();
  const untar = new Deno.Command("tar", { args: ["-x", "-C", dir], stdin: "piped" }).spawn();
  await archive.stdout.pipeTo(untar.stdin);
  const [a, u] = await Promise.all([archive.status, untar.status]);
  if (!a.success || !u.success) throw new Error(`cannot check out ${rev}`);
  return { dir, cleanup: () => Deno.remove(dir, { recursive: true }) };
}

async function weavets(
  name: string,
  fastdp: boolean,
  password?: string,
  root?: string,
  masquerade = false,
  allowlist = false,
): Promise<Target> {
  const c = await Cluster.start({ nodes: 2, podsPerNode: 1, fastdp, password, root, masquerade });
  for (const [i, n] of allowlist ? c.nodes.entries() : []) {
    const allowed = c.nodes.map((_, k) => underlayIp(k)).filter((_, k) => k !== i);
    await nftScript(n, inputScript({ sleevePort: 6783, fastdpPort: 6784, apiPort: 6784, allowed }));
  }
  const [a, b] = c.pods as [Pod, Pod];
  if (fastdp) { // wait for the first probe round: the pair starts on the userspace path
    for (let i = 0; i < 40; i++) {
      const peers = (await c.status(0)).peers as { path: string }[];
      if (peers[0]?.path === "fastdp") break;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    name,
    a: a.ns,
    b: b.ns,
    ip: b.ip,
    pids: c.drivers.map((d) => d!.child.pid),
    nodes: c.nodes,
    cleanup: () => c.stop(),
  };
}

const FAST = "weavets fast path", FAST_MASQ = "weavets fast path, masquerading";
const FAST_ALLOW = "weavets fast path, masquerading + input allow-list";
// All five topologies stay up; measurements interleave in ROUNDS so drifting load on the shared
// machine hits every path alike; each figure is the median of its rounds.
const targets: Target[] = [];
const results: Result[] = [];
type Samples = {
  tcp1: number[];
  tcp4: number[];
  pps: number[];
  cpu: { tcp1: number[]; tcp4: number[]; pps: number[] };
};
let samples: Samples[] = [];
let tracked: number[] = [];
const trees: { cleanup(): Promise<void> }[] = [];
try {
  targets.push(await kernelBaseline("routed"));
  targets.push(await kernelBaseline("vxlan"));
  targets.push(await kernelBaseline("vxlan-ct"));
  targets.push(await weavets("weavets fast path", true));
  targets.push(
    await weavets("weavets fast path, masquerading", true, undefined, undefined, true),
  );
  if (ALLOWLIST) {
    targets.push(await weavets(FAST_ALLOW, true, undefined, undefined, true, true));
  }
  targets.push(await weavets("weavets userspace", false));
  targets.push(await weavets("weavets userspace encrypted", false, "bench-password"));
  if (BASELINE) {
    const tree = await checkout(BASELINE);
    trees.push(tree);
    targets.push(await weavets(`weavets userspace at ${BASELINE}`, false, undefined, tree.dir));
    targets.push(
      await weavets(
        `weavets userspace encrypted at ${BASELINE}`,
        false,
        "bench-password",
        tree.dir,
      ),
    );
  }
  samples = targets.map(() => ({
    tcp1: [] as number[],
    tcp4: [] as number[],
    pps: [] as number[],
    cpu: { tcp1: [] as number[], tcp4: [] as number[], pps: [] as number[] },
  }));
  for (let round = 0; round < ROUNDS; round++) {
    for (const key of ["tcp1", "tcp4", "pps"] as const) {
      // A different order each round, so no path always runs right after another.
      const order = targets.map((_, i) => i).sort(() => Math.random() - 0.5);
      for (const i of order) {
        const t = targets[i];
        const m = await measureOnce(t, key);
        samples[i][key].push(m.value);
        samples[i].cpu[key].push(m.cpu);
        console.error(`round ${round + 1} ${t.name} ${key}: ${m.value.toFixed(2)} (cpu ${m.cpu}%)`);
      }
      // Right after every path carried one flow (entries outlive it by ≥ 30 s).
      if (round === 0 && key === "tcp1") {
        tracked = await Promise.all(targets.map((t) => conntrackCount(t.nodes)));
      }
    }
  }
  for (const [i, t] of targets.entries()) {
    const s = samples[i];
    results.push({
      name: t.name,
      tcp1: median(s.tcp1),
      tcp4: median(s.tcp4),
      pps: median(s.pps),
      cpu: t.pids.length
        ? { tcp1: median(s.cpu.tcp1), tcp4: median(s.cpu.tcp4), pps: median(s.cpu.pps) }
        : undefined,
    });
  }
} finally {
  for (const t of targets) await t.cleanup();
  for (const t of trees) await t.cleanup();
}

const base = results[1];
const f = (x: number, d = 2) => x.toFixed(d);
const rows = results.map((r) =>
  `| ${r.name} | ${f(r.tcp1)} | ${f(r.tcp1 / base.tcp1)} | ${f(r.tcp4)} | ${
    f(r.tcp4 / base.tcp4)
  } | ${Math.round(r.pps / 1000)} k | ${f(r.pps / base.pps)} | ${
    r.cpu ? `${r.cpu.tcp1} / ${r.cpu.tcp4} / ${r.cpu.pps}` : "kernel"
  } |`
);
/** Per-round ratios of `a` to `b` on `key`: median, range, and the verdict against `goal`. */
function judge(a: string, b: string, key: Key, goal: number, what: string): string {
  const ia = targets.findIndex((t) => t.name === a), ib = targets.findIndex((t) => t.name === b);
  const ratios = samples[ia][key].map((x, r) => x / samples[ib][key][r]);
  const { lo, hi, coverage } = medianInterval(ratios);
  const verdict = lo >= goal ? "met" : hi < goal ? "not met" : "not distinguishable at this noise";
  return `${what}: ${f(median(ratios))}× (${Math.round(coverage * 100)}% interval of the ` +
    `median ${f(lo)}–${f(hi)} over ${ratios.length} rounds; goal ≥ ${goal}): ${verdict}`;
}

const US = "weavets userspace", ENC = "weavets userspace encrypted";
const goals = [
  judge(
    FAST_MASQ,
    BASELINE_NAMES["vxlan-ct"],
    "tcp1",
    0.95,
    "fast path with masquerading vs kernel VXLAN + conntrack (like for like), TCP×1",
  ),
  judge(
    FAST_MASQ,
    BASELINE_NAMES["vxlan-ct"],
    "pps",
    0.95,
    "the same, UDP 64 B packets/s",
  ),
  judge(FAST, BASELINE_NAMES.vxlan, "tcp1", 0.95, "fast path vs kernel VXLAN, no conntrack either"),
  judge(US, BASELINE_NAMES.vxlan, "tcp1", 0.25, "userspace vs kernel VXLAN, TCP×1"),
  judge(ENC, US, "tcp1", 0.7, "encrypted vs unencrypted userspace, TCP×1"),
];
if (ALLOWLIST) {
  goals.push(
    judge(
      FAST_ALLOW,
      BASELINE_NAMES["vxlan-ct"],
      "tcp1",
      0.95,
      "fast path with masquerading and the input allow-list vs kernel VXLAN + conntrack, TCP×1",
    ),
    judge(FAST_ALLOW, BASELINE_NAMES["vxlan-ct"], "pps", 0.95, "the same, UDP 64 B packets/s"),
  );
}
if (BASELINE) {
  goals.push(
    judge(US, `${US} at ${BASELINE}`, "tcp1", 0.95, `userspace (hardened) vs ${BASELINE}, TCP×1`),
    judge(US, `${US} at ${BASELINE}`, "pps", 0.95, `userspace (hardened) vs ${BASELINE}, UDP pps`),
    judge(ENC, `${ENC} at ${BASELINE}`, "tcp1", 0.95, `encrypted vs encrypted at ${BASELINE}`),
  );
}
// Like for like needs conntrack on in both: say what each path's nodes held.
const ctAt = (name: string) => tracked[targets.findIndex((t) => t.name === name)] ?? 0;
const ctBase = ctAt(BASELINE_NAMES["vxlan-ct"]);
goals.push(
  `conntrack entries in the nodes after round 1: ${
    targets.map((t, i) => `${t.name} ${tracked[i] ?? "?"}`).join(", ")
  }${
    ctBase === 0
      ? ` — **the "+ conntrack" baseline did not track: every comparison with it is void**`
      : ""
  }`,
);
const table = [
  `## ${
    new Date().toISOString()
  } — median of ${ROUNDS} interleaved rounds of ${SECONDS} s, ${navigator.hardwareConcurrency} CPUs, load ${
    Deno.loadavg().map((x) => x.toFixed(1)).join(" ")
  }`,
  "",
  "| path | TCP×1 Gbit/s | ratio | TCP×4 Gbit/s | ratio | UDP 64 B pps | ratio | weavets CPU % (TCP×1 / TCP×4 / UDP) |",
  "|---|---|---|---|---|---|---|---|",
  ...rows,
  "",
  ...goals.map((g) => `- ${g}`),
  "",
].join("\n");
console.log(table);
if (WRITE) {
  const path = new URL("./RESULTS-dataplane.md", import.meta.url);
  let prev = "";
  try {
    prev = await Deno.readTextFile(path);
  } catch {
    prev =
      "# Data-plane benchmark results\n\nProduced by `deno run -A bench/dataplane.ts --write`. " +
      "Ratios are against the hand-made kernel VXLAN of the same run; CPU is % of one core used by " +
      "both nodes' weavets processes (kernel softirq work is not attributed).\n\n";
  }
  await Deno.writeTextFile(path, prev + table + "\n");
  // Keep the file as `deno fmt --check` (CI) wants it.
  await new Deno.Command(Deno.execPath(), { args: ["fmt", path.pathname] }).output();
}
