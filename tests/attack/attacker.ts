/**
 * What the attack suites share: an attacker namespace on a test cluster's underlay that is NOT a
 * peer (198.18.0.99, as in shared/reviews/security.md), attack clients run inside it, and the
 * oracles that tell whether an attack did harm (RSS, FDB, the status API timed with curl, a
 * daemon's log since a point, local users). Everything it creates carries the cluster's prefix
 * and is removed, also on failure.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { DatabaseSync } from "node:sqlite";
import { Cluster, type Node } from "../../cli/demo/cluster.ts";
import { DB_FILE } from "../../net/ipam/store.ts";
import { SIGNING_KEY_FILE } from "../../net/mesh/key_files.ts";
import { SigningKey } from "../../net/mesh/signing.ts";
import { execIn, type ExecResult, spawnIn } from "../../cli/demo/exec.ts";
import {
  addAddress,
  createNetns,
  createVeth,
  deleteNetns,
  inNetns,
  netnsExists,
  netnsPath,
  setLinkUp,
  setMaster,
} from "../../net/linux/mod.ts";
import { REPO_ROOT } from "../harness/binary.ts";
import { type ClusterOptions, withCluster } from "../e2e/e2e.ts";

export const ATTACKER_IP = "198.18.0.99";
export const MESH_PORT = 6783;
export const FASTDP_PORT = 6784;
export const NOBODY = 65534;

export interface Attacker {
  /** Namespace name (`<prefix>-n0x`: the cluster's leak check sees it if it were left). */
  name: string;
  netns: string;
  ip: string;
}

/**
 * A 3-node cluster built the documented way (tests/e2e withCluster: real daemons, the shipped
 * conflist) with metrics on, one pod per node attached through the CNI plugin that reaches the
 * others, and an attacker namespace on its underlay; `fn` runs the steps. Always torn down.
 */
export async function attackCluster(
  opts: Omit<ClusterOptions, "nodes"> & { afterStart?: () => void },
  fn: (c: Cluster, a: Attacker) => Promise<void>,
): Promise<void> {
  await withCluster({
    ...opts,
    nodes: 3,
    daemonArgs: [...METRICS_ARGS, ...(opts.daemonArgs ?? [])],
  }, async (c) => {
    opts.afterStart?.();
    const pods = [];
    for (const n of c.nodes) pods.push(await c.addPod(n, "p"));
    for (const p of pods.slice(1)) {
      assert.ok(await reaches(c, pods[0], p, 20_000), `${pods[0].name} reaches ${p.name}`);
    }
    await withAttacker(c, (a) => fn(c, a));
  });
}

/** Runs `fn` with an attacker namespace on the cluster's underlay; always removes it. */
export async function withAttacker<T>(c: Cluster, fn: (a: Attacker) => Promise<T>): Promise<T> {
  const name = `${c.spec.prefix}-n0x`;
  const path = createNetns(name);
  try {
    inNetns(path, () => setLinkUp("lo"));
    inNetns(netnsPath(c.underlay), () => {
      createVeth("atk", "eth0", { peerNetns: path });
      setMaster("atk", "br0");
      setLinkUp("atk");
    });
    inNetns(path, () => {
      addAddress("eth0", `${ATTACKER_IP}/24`);
      setLinkUp("eth0");
    });
    return await fn({ name, netns: path, ip: ATTACKER_IP });
  } finally {
    if (netnsExists(path)) deleteNetns(name);
  }
}

const CLIENTS = {
  mesh: `${REPO_ROOT}/tests/attack/mesh_client.ts`,
  udp: `${REPO_ROOT}/tests/attack/udp_client.ts`,
};

/**
 * Runs an attack client (tests/attack/*_client.ts) with a JSON spec inside `netns`, bounded by
 * `timeoutMs`; returns the JSON it prints last. The client is built from the product's modules.
 */
export async function runClient<T = Record<string, unknown>>(
  netns: string,
  client: keyof typeof CLIENTS,
  spec: Record<string, unknown>,
  timeoutMs: number,
): Promise<T> {
  const r = await execIn(netns, Deno.execPath(), [
    "run",
    "-A",
    "--unstable-net",
    "--cached-only",
    "--config",
    `${REPO_ROOT}/deno.json`,
    CLIENTS[client],
    JSON.stringify(spec),
  ], { timeoutMs, env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" } });
  const last = r.stdout.trim().split("\n").pop() ?? "";
  if (r.code !== 0 || !last.startsWith("{")) {
    throw new Error(`${client} client ${spec.cmd} exited ${r.code}: ${r.stderr}\n${r.stdout}`);
  }
  return JSON.parse(last) as T;
}

/** Starts a long attack client; the caller awaits `result` (bounded by `timeoutMs`). */
export function startClient<T = Record<string, unknown>>(
  netns: string,
  client: keyof typeof CLIENTS,
  spec: Record<string, unknown>,
  timeoutMs: number,
): { result: Promise<T> } {
  return { result: runClient<T>(netns, client, spec, timeoutMs) };
}

/** Resident memory of a process in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmRSS:\s+(\d+) kB/m);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

export function daemonPid(node: Node): number {
  if (!node.daemon) throw new Error(`${node.name} has no daemon`);
  return node.daemon.pid;
}

/** curl inside a node's namespace, as root or as `uid`; returns status code and body. */
export async function curl(
  node: Node,
  method: string,
  url: string,
  opts: { uid?: number; body?: string; contentType?: string; timeoutS?: number; unix?: string } =
    {},
): Promise<{ status: number; body: string; seconds: number; raw: ExecResult }> {
  const args = [
    "-s",
    "-X",
    method,
    "-o",
    "-",
    "-w",
    "\n%{http_code} %{time_total}",
    "--max-time",
    `${opts.timeoutS ?? 5}`,
  ];
  args.push("-H", "accept: application/json");
  if (opts.unix) args.push("--unix-socket", opts.unix);
  if (opts.body !== undefined) args.push("--data-binary", opts.body);
  if (opts.contentType) args.push("-H", `content-type: ${opts.contentType}`);
  args.push(url);
  const [cmd, pre] = opts.uid === undefined
    ? ["curl", []]
    : ["setpriv", [`--reuid=${opts.uid}`, `--regid=${opts.uid}`, "--clear-groups", "curl"]];
  const raw = await execIn(node.netns, cmd, [...pre, ...args], {
    timeoutMs: ((opts.timeoutS ?? 5) + 5) * 1000,
  });
  const lines = raw.stdout.split("\n");
  const [code, secs] = (lines.pop() ?? "0 0").split(" ");
  return { status: Number(code), body: lines.join("\n"), seconds: Number(secs), raw };
}

/** The VXLAN FDB entries of a node that point at a peer: "mac dst", sorted. */
export async function fdb(node: Node): Promise<string[]> {
  const r = await execIn(null, "bridge", ["-n", node.name, "-j", "fdb", "show"], {
    timeoutMs: 10_000,
  });
  if (r.code !== 0) throw new Error(`bridge fdb on ${node.name}: ${r.stderr}`);
  return (JSON.parse(r.stdout || "[]") as Array<{ mac: string; dst?: string }>)
    .filter((e) => e.dst).map((e) => `${e.mac} ${e.dst}`).sort();
}

/** The daemon's log from byte `since` on (a mark taken with logMark). */
export function logSince(node: Node, since: number): string {
  const all = Deno.readFileSync(node.logFile);
  return new TextDecoder().decode(all.subarray(since));
}

export function logMark(node: Node): number {
  try {
    return Deno.statSync(node.logFile).size;
  } catch {
    return 0;
  }
}

/** Established connections of a node, by peer name (from `/status/connections`). */
export async function established(node: Node): Promise<string[]> {
  const r = await curl(node, "GET", "http://127.0.0.1:6784/status/connections");
  if (r.status !== 200) throw new Error(`/status/connections on ${node.name}: ${r.status}`);
  return (JSON.parse(r.body) as Array<{ state: string; name?: string }>)
    .filter((x) => x.state === "established").map((x) => x.name ?? "?").sort();
}

export interface PeerStatus {
  name: string;
  nickname?: string;
  uid?: string;
  version?: number;
  reachable?: boolean;
  connections?: Array<{ name: string; address: string; outbound: boolean; established: boolean }>;
}

/** Peers a node's topology knows, with reachability and their entries (`/status/peers`). */
export async function peers(node: Node): Promise<PeerStatus[]> {
  const r = await curl(node, "GET", "http://127.0.0.1:6784/status/peers");
  if (r.status !== 200) throw new Error(`/status/peers on ${node.name}: ${r.status}`);
  return JSON.parse(r.body);
}

/** A node's own signing key, read by root from its data dir (for authored negative controls). */
export function signingKeyOf(node: Node): SigningKey {
  const text = Deno.readTextFileSync(`${node.datadir}/${SIGNING_KEY_FILE}`).trim();
  return SigningKey.fromSeed(new Uint8Array(Buffer.from(text, "base64url")));
}

/**
 * Polls `GET /status` on every node every `everyMs` until stopped; records the slowest answer
 * (curl's own time: the daemon's latency, not our spawn), every answer that was not 200, and
 * each node's outages (first non-200 to the next 200, in ms).
 */
export function watchStatus(nodes: Node[], everyMs = 250) {
  let stop = false;
  const worst = new Map<string, number>();
  const failures: string[] = [];
  const outages = new Map<string, number[]>();
  const loops = nodes.map(async (n) => {
    let down: number | null = null;
    while (!stop) {
      const t0 = performance.now();
      const r = await curl(n, "GET", "http://127.0.0.1:6784/status", { timeoutS: 10 });
      const ms = performance.now() - t0;
      worst.set(n.name, Math.max(worst.get(n.name) ?? 0, r.seconds * 1000));
      if (r.status !== 200) {
        failures.push(`${n.name}: ${r.status} after ${ms.toFixed(0)} ms`);
        down ??= t0;
      } else if (down !== null) {
        outages.set(n.name, [...(outages.get(n.name) ?? []), t0 - down]);
        down = null;
      }
      await new Promise((res) => setTimeout(res, everyMs));
    }
    if (down !== null) outages.set(n.name, [...(outages.get(n.name) ?? []), Infinity]);
  });
  return {
    async finish() {
      stop = true;
      await Promise.all(loops);
      return { worst, failures, outages };
    },
  };
}

/** Whether the node's pods still get traffic: a ping from `from` to `to`, retried for `ms`. */
export async function reaches(
  c: Cluster,
  from: Cluster["pods"][number],
  to: Cluster["pods"][number],
  ms = 10_000,
): Promise<boolean> {
  try {
    await Cluster.waitFor(
      `${from.name} -> ${to.name}`,
      async () => (await c.ping(from, to.ip!, 1)).ok,
      ms,
      200,
    );
    return true;
  } catch {
    return false;
  }
}

/** A child process run inside a namespace that is killed (by its own PID) after `ms`. */
export function bounded(netns: string | null, cmd: string, args: string[], ms: number) {
  const child = spawnIn(netns, cmd, args, { stdout: "piped", stderr: "piped" });
  const t = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited
    }
  }, ms);
  child.status.finally(() => clearTimeout(t));
  return child;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
export const unb64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));

/** Daemon flags that turn metrics on inside each node (the harness disables them). */
export const METRICS_ARGS = ["--metrics-addr", "127.0.0.1:6782"];

/** Sum of a Prometheus metric's samples on a node whose labels include `labels`. */
export async function metric(
  node: Node,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const r = await curl(node, "GET", "http://127.0.0.1:6782/metrics");
  if (r.status !== 200) throw new Error(`metrics on ${node.name}: ${r.status} ${r.raw.stderr}`);
  let sum = 0;
  for (const line of r.body.split("\n")) {
    const m = line.match(/^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/);
    if (!m || m[1] !== name) continue;
    const ls = m[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

/** The allocations table of a node's SQLite store (read directly, as root). */
export function storedAllocations(node: Node): string[] {
  const db = new DatabaseSync(`${node.datadir}/${DB_FILE}`, { readOnly: true });
  try {
    return (db.prepare("SELECT id, ifname, ip FROM allocations").all() as Array<
      { id: string; ifname: string; ip: number }
    >).map((r) => `${r.id} ${r.ifname} ${r.ip}`).sort();
  } finally {
    db.close();
  }
}

/** The IPAM meta row `key` of a node's store (e.g. "state": ring and Paxos as persisted). */
export function storedMeta(node: Node, key: string): string | null {
  const db = new DatabaseSync(`${node.datadir}/${DB_FILE}`, { readOnly: true });
  try {
    const row = db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as
      | { value: string }
      | undefined;
    return row?.value ?? null;
  } finally {
    db.close();
  }
}
