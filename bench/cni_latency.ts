/**
 * CNI ADD/DEL latency: weavets against the reference `bridge` + `host-local` plugins, in the same
 * run, on the same pods. Both delegate IPAM to host-local, so the difference is the plugin.
 * Each pod event is timed from exec to exit, as a runtime sees it.
 *
 *   sudo deno run -A bench/cni_latency.ts [--pods 100] [--write]
 *
 * Runs in a throwaway node namespace (plugins are spawned from inside it) with one namespace per
 * pod; everything is removed at the end. `--write` appends the table to bench/RESULTS-cni.md.
 */
import { inNetns } from "../net/linux/netns.ts";
import { REPO_ROOT, weavetsBin } from "../tests/harness/binary.ts";
import { shSync } from "../tests/harness/sh.ts";

const args = Deno.args;
const PODS = Number(args[args.indexOf("--pods") + 1] || 0) || 100;
const WRITE = args.includes("--write");
const PREFIX = `wtcb${Deno.pid}`;
const PLUGIN_DIR = "/usr/lib/cni";

interface Plugin {
  label: string;
  path: string;
  conf: Record<string, unknown>;
  ifname: string;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function spawnIn(node: string, path: string, env: Record<string, string>): Deno.ChildProcess {
  // Spawned while this thread is inside the node namespace: the child is born there.
  return inNetns(`/run/netns/${node}`, () =>
    new Deno.Command(path, {
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
  const child = spawnIn(node, plugin.path, {
    PATH: "/usr/bin:/bin",
    CNI_COMMAND: command,
    CNI_CONTAINERID: id,
    CNI_NETNS: `/run/netns/${pod}`,
    CNI_IFNAME: plugin.ifname,
    CNI_PATH: PLUGIN_DIR,
  });
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(plugin.conf)));
  await w.close();
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
  return run();
}

async function run(): Promise<void> {
  const node = `${PREFIX}-node`;
  const pods = Array.from({ length: PODS }, (_, i) => `${PREFIX}-p${i}`);
  const dataDir = `${REPO_ROOT}/.tmp/${PREFIX}-hostlocal`;
  const made: string[] = [];
  try {
    for (const ns of [node, ...pods]) {
      const r = shSync("ip", "netns", "add", ns);
      if (r.code !== 0) throw new Error(`ip netns add ${ns}: ${r.stderr}`);
      made.push(ns);
    }
    shSync("ip", "-n", node, "link", "set", "lo", "up");
    const hostLocal = (subnet: string) => ({
      type: "host-local",
      dataDir,
      ranges: [[{ subnet }]],
    });
    const plugins: Plugin[] = [
      {
        label: "weavets",
        path: weavetsBin(),
        ifname: "eth0",
        conf: {
          cniVersion: "1.0.0",
          name: "wtnet",
          type: "weavets",
          bridge: "wtbr",
          ipam: hostLocal("10.92.0.0/16"),
        },
      },
      {
        label: "bridge+host-local",
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
      },
    ];
    // Warm-up (caches, the bridges) outside the measurement.
    for (const p of plugins) {
      await invoke(node, p, "ADD", pods[0], "warm");
      await invoke(node, p, "DEL", pods[0], "warm");
    }
    const rows: string[] = [];
    const summary: Record<string, Record<string, number>> = {};
    // The floor of any weavets invocation: runtime start-up and the entry point, no work.
    const floor1 = await round(node, plugins[0], "VERSION", pods, 1);
    const floor20 = await round(node, plugins[0], "VERSION", pods, 20);
    for (const concurrency of [1, 20]) {
      for (const p of plugins) {
        const add = await round(node, p, "ADD", pods, concurrency);
        const del = await round(node, p, "DEL", pods, concurrency);
        const s = {
          addP50: percentile(add, 50),
          addP99: percentile(add, 99),
          delP50: percentile(del, 50),
          delP99: percentile(del, 99),
        };
        summary[`${p.label}@${concurrency}`] = s;
        rows.push(
          `| ${p.label} | ${concurrency} | ${s.addP50.toFixed(1)} | ${s.addP99.toFixed(1)} | ` +
            `${s.delP50.toFixed(1)} | ${s.delP99.toFixed(1)} |`,
        );
      }
    }
    const ratios = [1, 20].map((c) => {
      const w = summary[`weavets@${c}`];
      const r = summary[`bridge+host-local@${c}`];
      return `| ${c} | ${(w.addP50 / r.addP50).toFixed(2)} | ${
        (w.addP99 / r.addP99).toFixed(2)
      } | ` +
        `${(w.delP50 / r.delP50).toFixed(2)} | ${(w.delP99 / r.delP99).toFixed(2)} |`;
    });
    const w20 = summary["weavets@20"];
    const w1 = summary["weavets@1"];
    const r1 = summary["bridge+host-local@1"];
    const table = [
      `### ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC — ${PODS} pods, ` +
      `${navigator.hardwareConcurrency} CPUs, Deno ${Deno.version.deno}`,
      "",
      "Latency in ms from exec to exit (ADD and DEL of every pod).",
      "",
      "| plugin | concurrency | ADD p50 | ADD p99 | DEL p50 | DEL p99 |",
      "|---|---|---|---|---|---|",
      ...rows,
      "",
      "weavets VERSION — the floor of any invocation (runtime start-up, no work): concurrency 1 " +
      `p50 ${percentile(floor1, 50).toFixed(1)} ms, p99 ${percentile(floor1, 99).toFixed(1)} ms; ` +
      `concurrency 20 p50 ${percentile(floor20, 50).toFixed(1)} ms, p99 ` +
      `${percentile(floor20, 99).toFixed(1)} ms.`,
      "",
      "weavets / reference:",
      "",
      "| concurrency | ADD p50 | ADD p99 | DEL p50 | DEL p99 |",
      "|---|---|---|---|---|",
      ...ratios,
      "",
      `Goals: ADD p50 ≤ 2× reference (concurrency 1: ${(w1.addP50 / r1.addP50).toFixed(2)}×, ` +
      `${w1.addP50 / r1.addP50 <= 2 ? "met" : "NOT met"}); ADD p99 ≤ 150 ms at concurrency 20 ` +
      `(${w20.addP99.toFixed(0)} ms, ${w20.addP99 <= 150 ? "met" : "NOT met"}).`,
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
    }
  } finally {
    for (const ns of made.reverse()) shSync("ip", "netns", "delete", ns);
    shSync("rm", "-rf", dataDir);
  }
}

if (import.meta.main) await main();
