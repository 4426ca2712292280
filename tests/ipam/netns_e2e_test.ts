/**
 * IPAM end to end with the real binary: three daemons in node namespaces (the demo's cluster
 * harness), allocations through each node's HTTP API. 300 allocations are distinct; a daemon
 * killed with -9 in the middle of a burst and restarted keeps every address it acknowledged; a
 * node that dies for good is removed with `weavets rmpeer` on one survivor, which then owns and
 * uses its space.
 */
import assert from "node:assert/strict";
import { Cluster, type Node } from "../../cli/demo/cluster.ts";
import { spawnIn } from "../../cli/demo/exec.ts";
import { weavetsBin } from "../harness/binary.ts";
import { IS_ROOT } from "../harness/netns.ts";

const BURST = new URL("./burst.ts", import.meta.url).pathname;
const RANGE = "10.77.0.0/22"; // 1,024 addresses: ~341 a node, so a survivor needs the dead one's

interface Acked {
  node: Node;
  ip: string;
}

function parse(lines: string[]) {
  const acked = new Map<string, string>();
  const failed: string[] = [];
  for (const line of lines) {
    const [id, ip, ...rest] = line.split(" ");
    if (ip === "ERR") failed.push(`${id} ${rest.join(" ")}`);
    else acked.set(id, ip);
  }
  return { acked, failed };
}

/**
 * Allocates `count` addresses through `node`'s API; `onAck` sees the number acknowledged so far
 * as lines arrive (to act in the middle of the burst).
 */
async function burst(
  node: Node,
  prefix: string,
  count: number,
  onAck?: (n: number) => void,
) {
  const child = spawnIn(node.netns, Deno.execPath(), [
    "run",
    "-A",
    "--cached-only",
    BURST,
    prefix,
    "0",
    String(count),
    "10",
  ], { stderr: "null" });
  const lines: string[] = [];
  let acked = 0;
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    for (const line of chunk.split("\n").filter(Boolean)) {
      lines.push(line);
      if (!line.includes(" ERR ")) onAck?.(++acked);
    }
  }
  await child.status;
  return parse(lines);
}

async function owned(c: Cluster, node: Node, peer: string): Promise<number> {
  const s = await c.ipamStatus(node) as unknown as {
    peers: Array<{ name: string; owned: number }>;
  };
  return s.peers.find((p) => p.name === peer)?.owned ?? 0;
}

Deno.test({
  name: "IPAM e2e in 3 node namespaces: distinct, kill -9 mid-burst keeps all, rmpeer reuses space",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const workdir = await Deno.makeTempDir({ prefix: "wti-e2e-" });
    const c = Cluster.build({
      prefix: `wti${crypto.randomUUID().slice(0, 6)}`,
      nodes: 3,
      bin: weavetsBin(),
      workdir,
      conflist: { cniVersion: "1.0.0", name: "weavets", plugins: [{ type: "weavets" }] },
      daemonArgs: ["--ipalloc-range", RANGE, "--ipalloc-init", "consensus=3"],
    });
    try {
      for (const n of c.nodes) await c.startDaemon(n);
      for (const n of c.nodes) await c.waitReady(n, 30_000);
      const [n1, n2, n3] = c.nodes;
      const all = new Map<string, Acked>();
      const record = (node: Node, acked: Map<string, string>) => {
        for (const [id, ip] of acked) all.set(id, { node, ip });
      };

      // 300 allocations, 100 through each node at once.
      const bursts = await Promise.all(c.nodes.map((n, i) => burst(n, `pod${i}-`, 100)));
      bursts.forEach((b, i) => {
        assert.deepEqual(b.failed, [], `node ${i + 1}`);
        assert.equal(b.acked.size, 100);
        record(c.nodes[i], b.acked);
      });
      const ips = [...all.values()].map((a) => a.ip);
      assert.equal(new Set(ips).size, 300, "300 distinct addresses");
      assert.ok(ips.every((ip) => ip.startsWith("10.77.") && ip.endsWith("/22")), ips[0]);

      // kill -9 node 2 in the middle of a burst; restart it; what it acknowledged is kept.
      let killed: Promise<void> | undefined;
      const late = await burst(n2, "late-", 200, (n) => {
        if (n === 20) killed = c.stopDaemon(n2, "SIGKILL");
      });
      await killed;
      assert.ok(late.failed.length > 0, "the daemon died in the middle of the burst");
      record(n2, late.acked);
      await c.startDaemon(n2);
      await c.waitReady(n2, 30_000);
      const held = new Map((await c.allocations(n2)).map((a) => [a.id, a.ip]));
      for (const [id, a] of all) {
        if (a.node === n2) assert.equal(held.get(id), a.ip, `${id} after restart`);
      }
      console.log(
        `  kill -9 mid-burst: ${late.acked.size} acknowledged, ${late.failed.length} failed`,
      );

      // node 3 dies for good: rmpeer on node 1, which then owns its space and allocates from it.
      const peer3 = Cluster.peerName(3);
      const before = await owned(c, n1, Cluster.peerName(1));
      await c.stopDaemon(n3, "SIGKILL");
      await Cluster.waitFor("node 3 unreachable", async () => {
        const r = await c.cli(n1, ["status", "ipam"]);
        return r.stdout.includes("unreachable!");
      }, 20_000);
      const rm = await c.cli(n1, ["rmpeer", peer3]);
      assert.equal(rm.code, 0, rm.stderr);
      const taken = Number(rm.stdout.match(/^(\d+) IPs taken over from /)?.[1]);
      assert.ok(taken > 0, rm.stdout);
      assert.equal(await owned(c, n1, Cluster.peerName(1)), before + taken);
      assert.equal(await owned(c, n1, peer3), 0);
      // More than node 1 had free of its own: the rest comes from the space it took over.
      const more = await burst(n1, "after-", before - 100 + 20);
      assert.deepEqual(more.failed, []);
      record(n1, more.acked);
      const final = [...all.values()].filter((a) => a.node !== n3).map((a) => a.ip);
      assert.equal(new Set(final).size, final.length, "no address handed out twice");
    } finally {
      await c.teardown();
    }
  },
});
