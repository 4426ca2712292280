/**
 * `weavets demo`: a whole cluster on this machine — node namespaces on an underlay bridge, a real
 * daemon in each, pods attached through the real CNI plugin — then the peers table, each pod's
 * address, an ICMP echo matrix and a short TCP transfer (the product's own probes: nothing else
 * need be installed). Stays up until Ctrl-C (or `--once`); stops at once when a daemon exits.
 */
import { describeCause } from "../net/cause.ts";
import { parseCommandLine, UsageError } from "./command.ts";
import { Cluster, namespacesWithPrefix, type Pod } from "./demo/cluster.ts";
import type { Conflist } from "./demo/cni_runtime.ts";
import { tcpThroughput } from "./demo/probes.ts";
import { removeNodeState } from "../cni/node_state.ts";
import { deleteNetns, netnsPath } from "../net/linux/mod.ts";

const PREFIX = "wtdemo";
const WORKDIR = "/run/weavets-demo";
const STATE = `${WORKDIR}/daemons.json`;

const HELP =
  `usage: weavets demo [--nodes N] [--pods-per-node M] [--password] [--no-fastdp] [--once]
       weavets demo down

Builds N node namespaces (default 3) on an underlay bridge, starts a weavets daemon in each,
attaches M pods per node (default 2) through the CNI plugin, and shows that they talk.
  --password       encrypt the overlay (a random password is generated)
  --no-fastdp      use the userspace path only
  --once           run, show, tear down (default: stay up until Ctrl-C)
'weavets demo down' removes what an interrupted demo left behind.`;

/** The conflist Kubernetes nodes get (deploy/cni/10-weavets.conflist), as shipped. */
async function shippedConflist(): Promise<Conflist> {
  const url = new URL("../deploy/cni/10-weavets.conflist", import.meta.url);
  try {
    return JSON.parse(await Deno.readTextFile(url));
  } catch {
    return { cniVersion: "1.0.0", name: "weavets", plugins: [{ type: "weavets" }] };
  }
}

function step(start: number, text: string) {
  const t = ((performance.now() - start) / 1000).toFixed(1).padStart(5);
  console.log(`[${t}s] ${text}`);
}

async function pingMatrix(cluster: Cluster, pods: Pod[]): Promise<boolean> {
  const width = Math.max(...pods.map((p) => p.name.length - PREFIX.length - 1), 8);
  const cell = (s: string) => s.padStart(10);
  console.log(
    `\n${"from \\ to".padEnd(width)} ` +
      pods.map((p) => cell(p.name.slice(PREFIX.length + 1))).join(""),
  );
  let ok = true;
  for (const from of pods) {
    const row: string[] = [];
    for (const to of pods) {
      if (from === to) {
        row.push(cell("-"));
        continue;
      }
      const r = await cluster.ping(from, to.ip!);
      if (r.ok) row.push(cell(`${r.ms.toFixed(2)}ms`));
      else {
        row.push(cell("FAIL"));
        ok = false;
      }
    }
    console.log(`${from.name.slice(PREFIX.length + 1).padEnd(width)} ${row.join("")}`);
  }
  return ok;
}

async function throughput(server: Pod, client: Pod): Promise<string> {
  try {
    const r = await tcpThroughput({ netns: server.netns, ip: server.ip! }, client.netns, 3);
    return `${
      (r.bitsPerSecond / 1e9).toFixed(2)
    } Gbit/s TCP ${client.name} -> ${server.name} (3 s)`;
  } catch (e) {
    return `TCP transfer failed: ${describeCause(e)}`;
  }
}

/** Thrown when a daemon exits while the demo waits for something. */
class DaemonExited extends Error {}

/** `work`, unless a daemon exits first: then its own error, at once. */
async function unlessADaemonExits<T>(cluster: Cluster, work: Promise<T>): Promise<T> {
  const r = await Promise.race([
    work.then((value) => ({ value })),
    cluster.daemonExited.then((exit) => ({ exit })),
  ]);
  if ("value" in r) return r.value;
  const { node, code, signal, error } = r.exit;
  throw new DaemonExited(
    `the daemon of ${node.name} exited (${signal ? `signal ${signal}` : `code ${code}`}): ${error}`,
  );
}

/** Removes a previous demo's namespaces and the daemons it recorded (only those, by PID). */
function down(): number {
  let pids: number[] = [];
  try {
    pids = JSON.parse(Deno.readTextFileSync(STATE));
  } catch {
    // no record
  }
  for (const pid of pids) {
    try {
      // Only a process that is still one of our daemons: PIDs can be reused.
      const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
      if (cmdline.includes("daemon") && cmdline.includes(`${PREFIX}-n`)) Deno.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  const names = namespacesWithPrefix(PREFIX);
  for (const n of names.reverse()) {
    removeNodeState(netnsPath(n)); // a killed daemon's socket, releases kept for it
    deleteNetns(n);
  }
  try {
    Deno.removeSync(WORKDIR, { recursive: true });
  } catch {
    // nothing left there
  }
  console.log(`removed ${names.length} namespaces and ${pids.length} recorded daemons`);
  return 0;
}

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommandLine({
    args,
    allowPositionals: true,
    options: {
      nodes: { type: "string", default: "3" },
      "pods-per-node": { type: "string", default: "2" },
      password: { type: "boolean", default: false },
      "no-fastdp": { type: "boolean", default: false },
      once: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (Deno.uid() !== 0) {
    console.error("weavets demo: needs root (it creates network namespaces)");
    return 1;
  }
  if (positionals[0] === "down" && positionals.length === 1) {
    try {
      return down();
    } catch (e) {
      console.error(`weavets demo down: ${describeCause(e)}`);
      return 1;
    }
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const nodes = Number(values.nodes);
  const podsPerNode = Number(values["pods-per-node"]);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 20) {
    throw new UsageError(`--nodes must be an integer from 1 to 20, got "${values.nodes}"`);
  }
  if (!Number.isInteger(podsPerNode) || podsPerNode < 1 || podsPerNode > 20) {
    throw new UsageError(
      `--pods-per-node must be an integer from 1 to 20, got "${values["pods-per-node"]}"`,
    );
  }

  const start = performance.now();
  const password = values.password
    ? Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0"))
      .join("")
    : undefined;
  let cluster: Cluster;
  try {
    Deno.mkdirSync(WORKDIR, { recursive: true, mode: 0o700 });
    cluster = Cluster.build({
      prefix: PREFIX,
      nodes,
      bin: Deno.execPath().endsWith("/deno") ? selfLauncher() : Deno.execPath(),
      workdir: WORKDIR,
      conflist: await shippedConflist(),
      password,
      noFastdp: values["no-fastdp"],
      daemonArgs: ["--ipalloc-init", `consensus=${nodes}`],
      progress: (l) => step(start, l),
    });
  } catch (e) {
    console.error(`weavets demo: ${describeCause(e)}`);
    return 1;
  }

  const stop = new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGINT", resolve);
    Deno.addSignalListener("SIGTERM", resolve);
  });
  let ok = false;
  const guard = <T>(work: Promise<T>) => unlessADaemonExits(cluster, work);
  try {
    for (const n of cluster.nodes) cluster.startDaemon(n);
    Deno.writeTextFileSync(STATE, JSON.stringify(cluster.nodes.map((n) => n.daemon!.pid)));
    step(
      start,
      `started ${nodes} daemons${password ? " (encrypted)" : ""}${
        values["no-fastdp"] ? " (userspace path)" : ""
      }`,
    );
    for (const n of cluster.nodes) await guard(cluster.waitReady(n, 30_000));
    await guard(Cluster.waitFor("a full mesh", async () => {
      const r = await cluster.cli(cluster.nodes[0], ["peers", "--json"]);
      if (r.code !== 0) return false;
      const peers = JSON.parse(r.stdout) as unknown[];
      return peers.length === nodes;
    }, 30_000));
    step(start, "every peer connected");
    console.log((await guard(cluster.cli(cluster.nodes[0], ["peers"]))).stdout);

    const pods: Pod[] = [];
    for (const n of cluster.nodes) {
      for (let j = 1; j <= podsPerNode; j++) pods.push(await guard(cluster.addPod(n, `p${j}`)));
    }
    step(start, `attached ${pods.length} pods through the CNI plugin`);
    for (const p of pods) console.log(`  ${p.name.padEnd(20)} ${p.ip}`);

    ok = await guard(pingMatrix(cluster, pods));
    step(start, ok ? "every pod reaches every other pod" : "some pods could not reach each other");
    if (nodes >= 2) {
      const other = pods.find((p) => p.node !== pods[0].node)!;
      console.log(`\n  ${await guard(throughput(other, pods[0]))}`);
    }
    step(start, `done in ${((performance.now() - start) / 1000).toFixed(1)} s`);
    if (!values.once) {
      console.log("\nThe cluster stays up; press Ctrl-C to tear it down. Try:");
      console.log(`  ip netns exec ${PREFIX}-n1 weavets status`);
      console.log(`  ip netns exec ${pods[0].name} ip addr`);
      await guard(stop);
    }
  } catch (e) {
    console.error(`weavets demo: ${describeCause(e)}`);
    // A daemon's exit says why itself; otherwise show the logs' ends (they go with the teardown).
    if (!(e instanceof DaemonExited)) {
      for (const n of cluster.nodes) {
        const log = await Deno.readTextFile(n.logFile).catch(() => "");
        console.error(`--- last lines of ${n.name}'s daemon log ---`);
        console.error(log.trimEnd().split("\n").slice(-10).join("\n"));
      }
    }
    ok = false;
  } finally {
    await cluster.teardown();
  }
  return ok ? 0 : 1;
}

/**
 * When run from source (`deno run mod.ts demo`, or install.sh's launcher), daemons and the CNI
 * plugin need one command that runs weavets. The runtime execs the plugin with a stripped
 * environment, so the launcher carries the dependency cache and the config itself.
 */
function selfLauncher(): string {
  const path = `${WORKDIR}/weavets`;
  const main = new URL("../mod.ts", import.meta.url).pathname;
  const config = new URL("../deno.json", import.meta.url).pathname;
  // Deno's default cache (Linux), spelled out: the plugin runs without HOME.
  const cache = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/root"}/.cache`;
  const denoDir = Deno.env.get("DENO_DIR") ?? `${cache}/deno`;
  Deno.writeTextFileSync(
    path,
    [
      "#!/bin/sh",
      `DENO_DIR='${denoDir}' DENO_NO_UPDATE_CHECK=1 NO_COLOR=1 \\`,
      `  exec '${Deno.execPath()}' run --allow-all --no-prompt --cached-only \\`,
      `  --config '${config}' '${main}' "$@"`,
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  return path;
}
