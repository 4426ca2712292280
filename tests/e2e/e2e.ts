/**
 * What the end-to-end fault tests share: a running cluster (built by the demo's harness, with the
 * real product and the shipped conflist) that is always torn down, and bounded concurrency.
 */
import assert from "node:assert/strict";
import { Cluster, type ClusterSpec, namespacesWithPrefix } from "../../cli/demo/cluster.ts";
import type { Conflist } from "../../cli/demo/cni_runtime.ts";
import { REPO_ROOT, weavetsBin } from "../harness/binary.ts";

/** The conflist Kubernetes nodes get, as shipped. */
export const SHIPPED_CONFLIST: Conflist = JSON.parse(
  Deno.readTextFileSync(`${REPO_ROOT}/deploy/cni/10-weavets.conflist`),
);

/** The weavets plugin alone (no chained portmap), for load tests that measure weavets only. */
export const WEAVETS_ONLY: Conflist = {
  ...SHIPPED_CONFLIST,
  plugins: SHIPPED_CONFLIST.plugins.filter((p) => p.type === "weavets"),
};

/** "wte" + a random id: unique per run, within the harness's 12 characters. */
export function uniquePrefix(): string {
  const id = Array.from(crypto.getRandomValues(new Uint8Array(3)), (b) => b.toString(16))
    .join("").padEnd(6, "0");
  return `wte${id}`;
}

export interface ClusterOptions {
  /** Extra environment of each node's daemon. */
  daemonEnv?: ClusterSpec["daemonEnv"];
  nodes: number;
  conflist?: Conflist;
  password?: string;
  noFastdp?: boolean;
  /** Extra daemon flags for every node (after the defaults, so they win). */
  daemonArgs?: string[];
  /** Runs after the namespaces exist, before any daemon starts (e.g. mounts on datadirs). */
  setup?: (c: Cluster) => Promise<void>;
  /** Runs after every daemon stopped, before the cluster is removed (e.g. unmounts). */
  cleanup?: (c: Cluster) => Promise<void>;
}

/**
 * Builds a cluster, starts every daemon, waits until all are ready and fully meshed, runs `fn`,
 * and always tears down — then checks that nothing with the prefix is left.
 */
export async function withCluster<T>(
  opts: ClusterOptions,
  fn: (c: Cluster) => Promise<T>,
): Promise<T> {
  const prefix = uniquePrefix();
  const workdir = await Deno.makeTempDir({ prefix: `${prefix}-` });
  const c = Cluster.build({
    prefix,
    nodes: opts.nodes,
    bin: weavetsBin(),
    workdir,
    conflist: opts.conflist ?? SHIPPED_CONFLIST,
    password: opts.password,
    noFastdp: opts.noFastdp,
    daemonArgs: ["--ipalloc-init", `consensus=${opts.nodes}`, ...(opts.daemonArgs ?? [])],
    daemonEnv: opts.daemonEnv,
  });
  try {
    await opts.setup?.(c);
    for (const n of c.nodes) await c.startDaemon(n);
    for (const n of c.nodes) await c.waitReady(n, 60_000);
    await waitFullMesh(c, 30_000);
    return await fn(c);
  } catch (e) {
    for (const n of c.nodes) {
      const log = await Deno.readTextFile(n.logFile).catch(() => "");
      console.error(
        `--- last lines of ${n.name}'s daemon log ---\n` +
          log.split("\n").slice(-15).join("\n"),
      );
    }
    throw e;
  } finally {
    if (opts.cleanup) {
      for (const n of c.nodes) await c.stopDaemon(n, "SIGTERM");
      await opts.cleanup(c).catch((e) => console.error(`cleanup: ${e}`));
    }
    await c.teardown();
    assert.deepEqual(namespacesWithPrefix(prefix), [], "teardown left namespaces");
  }
}

/** Established connections each node reports (`weavets status connections --json`). */
export async function establishedPeers(c: Cluster, node: Cluster["nodes"][number]) {
  const r = await c.cli(node, ["status", "connections", "--json"], 10_000);
  if (r.code !== 0) throw new Error(`status connections on ${node.name}: ${r.stderr}`);
  const conns = JSON.parse(r.stdout) as Array<{ state: string; name?: string; peer?: string }>;
  return conns.filter((x) => x.state === "established");
}

/** Waits until every node has an established connection to every other node. */
export async function waitFullMesh(c: Cluster, timeoutMs: number): Promise<void> {
  await Cluster.waitFor(
    "a full mesh",
    async () => {
      for (const n of c.nodes) {
        if ((await establishedPeers(c, n)).length !== c.nodes.length - 1) return false;
      }
      return true;
    },
    timeoutMs,
    250,
  );
}

/** Runs `fn(i)` for i in [0, count) with at most `concurrency` at once; never rejects. */
export async function pool<T>(
  count: number,
  concurrency: number,
  fn: (i: number) => Promise<T>,
): Promise<PromiseSettledResult<T>[]> {
  const results: PromiseSettledResult<T>[] = new Array(count);
  let next = 0;
  async function worker() {
    while (next < count) {
      const i = next++;
      try {
        results[i] = { status: "fulfilled", value: await fn(i) };
      } catch (reason) {
        results[i] = { status: "rejected", reason };
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

export const secondsSince = (t0: number) => ((performance.now() - t0) / 1000).toFixed(1);
