/**
 * CNI ADD/DEL latency: weavets against the reference `bridge` + `host-local` plugins, in the same
 * run, on the same pods. Each pod event is timed from exec to exit, as a runtime sees it. weavets
 * runs three ways: alone (no daemon: the plugin does the work itself), served by its node's daemon
 * with IPAM still delegated to host-local (so the difference to the reference is the plugin), and
 * served by the daemon with weavets' own IPAM (how a cluster runs it). Two floors are measured in
 * the same run: an empty Deno program and weavets VERSION.
 *
 *   sudo deno run -A bench/cni_latency.ts [--pods 100] [--write]
 *
 * weavets is what ships (bench/shipped.ts): install.sh's product, unless WEAVETS_BIN names one.
 *
 * Runs in a throwaway node namespace (plugins are spawned from inside it) with one namespace per
 * pod; everything is removed at the end. `--write` appends the table to bench/RESULTS-cni.md.
 */
import { inNetns } from "../net/linux/netns.ts";
import { REPO_ROOT, weavetsBin } from "../tests/harness/binary.ts";
import { shSync } from "../tests/harness/sh.ts";
import { binaryKind, withShipped } from "./shipped.ts";
import { cniSocketPathFor } from "../cni/socket.ts";

const args = Deno.args;
const PODS = Number(args[args.indexOf("--pods") + 1] || 0) || 100;
const WRITE = args.includes("--write");
const PREFIX = `wtcb${Deno.pid}`;
const PLUGIN_DIR = "/usr/lib/cni";

interface Plugin {
  label: string;
  path: string;
  args?: string[];
  conf: Record<string, unknown>;
  ifname: string;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function spawnIn(
  node: string,
  path: string,
  args: string[],
  env: Record<string, string>,
): Deno.ChildProcess {
  // Spawned while this thread is inside the node namespace: the child is born there.
  return inNetns(`/run/netns/${node}`, () =>
    new Deno.Command(path, {
      args,
      env,
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn());
}

async function invoke(
  node: string,
  plugin: Plugin,
  command: string,
  pod: string,
  id: string,
): Promise<number> {
  const t0 = performance.now();
  const child = spawnIn(node, plugin.path, plugin.args ?? [], {
    PATH: "/usr/bin:/bin",
    CNI_COMMAND: command,
    CNI_CONTAINERID: id,
    CNI_NETNS: `/run/netns/${pod}`,
    CNI_IFNAME: plugin.ifname,
    CNI_PATH: PLUGIN_DIR,
  });
  const w = child.stdin.getWriter();
  try {
    await w.write(new TextEncoder().encode(JSON.stringify(plugin.conf)));
    await w.close();
  } catch (e) {
    // A program that never reads its stdin (the empty-Deno floor) may exit first.
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
  }
  const out = await child.output();
  const ms = performance.now() - t0;
  if (!out.success) {
    const dec = new TextDecoder();
    throw new Error(
      `${plugin.label} ${command} ${id} failed: ${dec.decode(out.stdout)} ${
        dec.decode(out.stderr)
      }`,
    );
  }
  return ms;
}

/** Runs `command` for every pod with at most `concurrency` in flight; returns sorted latencies. */
async function round(
  node: string,
  plugin: Plugin,
  command: string,
  pods: string[],
  concurrency: number,
): Promise<number[]> {
  const times: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < pods.length) {
      const i = next++;
      times.push(await invoke(node, plugin, command, pods[i], `bench${i}`));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return times.sort((a, b) => a - b);
}

function main(): Promise<void> {
  if (Deno.uid() !== 0) {
    console.error("bench/cni_latency.ts needs root (network namespaces)");
    Deno.exit(1);
  }
  for (const p of ["bridge", "host-local"]) {
    try {
      Deno.statSync(`${PLUGIN_DIR}/${p}`);
    } catch {
      console.error(`${PLUGIN_DIR}/${p} is missing: apt-get install containernetworking-plugins`);
      Deno.exit(1);
    }
  }
  return withShipped(run);
}

type Stats = { addP50: number; addP99: number; delP50: number; delP99: number };

const ALONE = "weavets alone";
const SERVED = "weavets, daemon-served";
const OWN_IPAM = "weavets, daemon-served, own IPAM";
const REF = "bridge+host-local";

async function run(): Promise<void> {
  const node = `${PREFIX}-node`;
  const pods = Array.from({ length: PODS }, (_, i) => `${PREFIX}-p${i}`);
  const workdir = `${REPO_ROOT}/.tmp/${PREFIX}`;
  const dataDir = `${workdir}/hostlocal`;
  const made: string[] = [];
  let daemon: Deno.ChildProcess | undefined;
  let socket: string | undefined;
  try {
    Deno.mkdirSync(`${workdir}/daemon`, { recursive: true });
    for (const ns of [node, ...pods]) {
      const r = shSync("ip", "netns", "add", ns);
      if (r.code !== 0) throw new Error(`ip netns add ${ns}: ${r.stderr}`);
      made.push(ns);
    }
    shSync("ip", "-n", node, "link", "set", "lo", "up");
    // The daemon needs an underlay address: a veth pair inside the node, nothing outside it.
    shSync("ip", "-n", node, "link", "add", "u0", "type", "veth", "peer", "name", "u1");
    shSync("ip", "-n", node, "addr", "add", "198.18.5.1/24", "dev", "u0");
    shSync("ip", "-n", node, "link", "set", "u0", "up");
    shSync("ip", "-n", node, "link", "set", "u1", "up");
    socket = cniSocketPathFor(Deno.statSync(`/run/netns/${node}`).ino!);

    const hostLocal = (subnet: string) => ({ type: "host-local", dataDir, ranges: [[{ subnet }]] });
    const weavets = (label: string, conf: Record<string, unknown>): Plugin => ({
      label,
      path: weavetsBin(),
      ifname: "eth0",
      conf: { cniVersion: "1.0.0", name: "wtnet", type: "weavets", ...conf },
    });
    const alone = weavets(ALONE, { bridge: "wtbr", ipam: hostLocal("10.92.0.0/16") });
    const served = weavets(SERVED, { bridge: "wtbr", ipam: hostLocal("10.92.0.0/16") });
    const ownIpam = weavets(OWN_IPAM, { name: "weave" });
    const ref: Plugin = {
      label: REF,
      path: `${PLUGIN_DIR}/bridge`,
      ifname: "eth0",
      conf: {
        cniVersion: "1.0.0",
        name: "refnet",
        type: "bridge",
        bridge: "refbr",
        isGateway: true,
        ipam: hostLocal("10.91.0.0/16"),
      },
    };
    const emptyFile = `${workdir}/empty.js`;
    Deno.writeTextFileSync(emptyFile, "");
    const emptyDeno: Plugin = {
      label: "empty Deno program",
      path: Deno.execPath(),
      args: ["run", "--no-config", emptyFile],
      ifname: "eth0",
      conf: {},
    };

    const summary = new Map<string, Stats>();
    const measure = async (p: Plugin) => {
      // Warm-up (caches, the bridges) outside the measurement.
      await invoke(node, p, "ADD", pods[0], "warm");
      await invoke(node, p, "DEL", pods[0], "warm");
      for (const concurrency of [1, 20]) {
        const add = await round(node, p, "ADD", pods, concurrency);
        const del = await round(node, p, "DEL", pods, concurrency);
        summary.set(`${p.label}@${concurrency}`, {
          addP50: percentile(add, 50),
          addP99: percentile(add, 99),
          delP50: percentile(del, 50),
          delP99: percentile(del, 99),
        });
      }
    };
    const floor = async (p: Plugin) => {
      const at = async (c: number) => {
        const t = await round(node, p, "VERSION", pods, c);
        return `concurrency ${c} p50 ${percentile(t, 50).toFixed(1)} ms, p99 ${
          percentile(t, 99).toFixed(1)
        } ms`;
      };
      return `${await at(1)}; ${await at(20)}`;
    };

    // No daemon yet: the plugin alone, the reference, and the floors of any Deno process.
    const floorEmpty = await floor(emptyDeno);
    const floorVersion = await floor(alone);
    await measure(alone);
    await measure(ref);

    daemon = startDaemon(node, `${workdir}/daemon`);
    await waitServed(node, ownIpam, socket);
    const logFile = `${workdir}/daemon/log`;
    const before = podEvents(logFile);
    await measure(served);
    await measure(ownIpam);
    const servedEvents = podEvents(logFile) - before;
    const expected = 2 * (2 + 4 * PODS);

    const row = (label: string, c: number) => {
      const s = summary.get(`${label}@${c}`)!;
      return `| ${label} | ${c} | ${s.addP50.toFixed(1)} | ${s.addP99.toFixed(1)} | ` +
        `${s.delP50.toFixed(1)} | ${s.delP99.toFixed(1)} |`;
    };
    const ratio = (label: string, c: number) => {
      const w = summary.get(`${label}@${c}`)!, r = summary.get(`${REF}@${c}`)!;
      return `| ${label} | ${c} | ${(w.addP50 / r.addP50).toFixed(2)} | ${
        (w.addP99 / r.addP99).toFixed(2)
      } | ${(w.delP50 / r.delP50).toFixed(2)} | ${(w.delP99 / r.delP99).toFixed(2)} |`;
    };
    const goals = (label: string) => {
      const w1 = summary.get(`${label}@1`)!, r1 = summary.get(`${REF}@1`)!;
      const w20 = summary.get(`${label}@20`)!;
      const x = w1.addP50 / r1.addP50;
      return `- ${label}: ADD p50 ${x.toFixed(2)}× reference (goal ≤ 2×: ${
        x <= 2 ? "met" : "NOT met"
      }); ADD p99 at concurrency 20 ${w20.addP99.toFixed(0)} ms (goal ≤ 150 ms: ${
        w20.addP99 <= 150 ? "met" : "NOT met"
      }).`;
    };
    const variants = [ALONE, SERVED, OWN_IPAM];
    const table = [
      `### ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC — ${PODS} pods, ` +
      `${navigator.hardwareConcurrency} CPUs, Deno ${Deno.version.deno}, load ${loadAverage()}, ` +
      `weavets ${binaryKind()}`,
      "",
      "Latency in ms from exec to exit (ADD and DEL of every pod).",
      "",
      "| plugin | concurrency | ADD p50 | ADD p99 | DEL p50 | DEL p99 |",
      "|---|---|---|---|---|---|",
      ...[1, 20].flatMap((c) => [...variants, REF].map((l) => row(l, c))),
      "",
      `The daemon served ${servedEvents} of the ${expected} daemon-served pod events.`,
      "",
      `Floors (VERSION, no work): an empty Deno program: ${floorEmpty}. weavets alone: ` +
      `${floorVersion}.`,
      "",
      "weavets / reference:",
      "",
      "| weavets | concurrency | ADD p50 | ADD p99 | DEL p50 | DEL p99 |",
      "|---|---|---|---|---|---|",
      ...[1, 20].flatMap((c) => variants.map((l) => ratio(l, c))),
      "",
      "Goals:",
      ...variants.map(goals),
      "",
    ].join("\n");
    console.log(table);
    if (WRITE) {
      const path = `${REPO_ROOT}/bench/RESULTS-cni.md`;
      let existing = "";
      try {
        existing = Deno.readTextFileSync(path);
      } catch {
        existing = "# CNI plugin latency (bench/cni_latency.ts)\n\n";
      }
      Deno.writeTextFileSync(path, existing.trimEnd() + "\n\n" + table);
      // Aligned as `deno fmt` wants it, or CI's format check fails on the log.
      new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", path] }).outputSync();
    }
  } finally {
    if (daemon) {
      try {
        daemon.kill("SIGTERM");
      } catch {
        // already gone
      }
      await daemon.status;
    }
    if (socket) await Deno.remove(socket).catch(() => {});
    for (const ns of made.reverse()) shSync("ip", "netns", "delete", ns);
    shSync("rm", "-rf", workdir);
  }
}

/** A single-peer weavets daemon in `node`, logging (debug: one line per pod event) to dir/log. */
function startDaemon(node: string, dir: string): Deno.ChildProcess {
  return inNetns(`/run/netns/${node}`, () =>
    new Deno.Command("/bin/sh", {
      args: [
        "-c",
        'log=$1; shift; exec "$@" >>"$log" 2>&1',
        "sh",
        `${dir}/log`,
        weavetsBin(),
        "daemon",
        "--name",
        "0a:77:74:00:00:fe",
        "--datadir",
        dir,
        "--host",
        "198.18.5.1",
        "--metrics-addr",
        "",
        "--ipalloc-range",
        "10.93.0.0/16",
        "--ipalloc-init",
        "consensus=1",
      ],
      env: { WEAVETS_LOG_LEVEL: "debug" },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn());
}

/** Waits until the daemon is ready (CNI STATUS succeeds) and serves its node's CNI socket. */
async function waitServed(node: string, p: Plugin, socket: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (true) {
    try {
      Deno.statSync(socket);
      await invoke(node, { ...p, conf: { ...p.conf, cniVersion: "1.1.0" } }, "STATUS", "", "s");
      return;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`the daemon did not get ready: ${e}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** How many pod events the daemon has logged. */
function podEvents(logFile: string): number {
  return Deno.readTextFileSync(logFile).split("\n").filter((l) => l.includes('"pod event"'))
    .length;
}

function loadAverage(): string {
  return Deno.loadavg().map((x) => x.toFixed(1)).join(" ");
}

if (import.meta.main) await main();
