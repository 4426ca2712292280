/**
 * Issue 17: pods on a host whose iptables FORWARD policy is DROP (Docker's, ufw's). With
 * br_netfilter on, even frames between pods on one bridge cross FORWARD: without weavets' accept
 * rules every ping fails (the negative control); with them every pod reaches every pod, with
 * br_netfilter on and off; removing them leaves the ruleset exactly as before. Once with the
 * FORWARD chain of iptables-nft (nft's `ip filter`), once with legacy x_tables.
 */
import assert from "node:assert/strict";
import { IS_ROOT } from "../harness/netns.ts";
import { sh, shTry } from "../harness/sh.ts";
import { Cluster, ping, type Pod } from "../dataplane/cluster.ts";

const TOOL = new URL("./forward_tool.ts", import.meta.url).pathname;

async function forward(node: string, what: "apply" | "remove"): Promise<unknown> {
  const out = await sh(
    "ip",
    "netns",
    "exec",
    node,
    Deno.execPath(),
    "run",
    "-A",
    TOOL,
    what,
    "weave",
  );
  return JSON.parse(out.trim().split("\n").pop()!);
}

async function ruleset(node: string): Promise<string> {
  const save = await sh("ip", "netns", "exec", node, "iptables-nft-save") +
    await sh("ip", "netns", "exec", node, "iptables-legacy-save");
  const nft = await sh("ip", "netns", "exec", node, "nft", "-s", "list", "ruleset");
  // Without the timestamp comments and the policies' packet counters, which traffic moves.
  const lines = save.split("\n").filter((l) => !l.startsWith("#"));
  return lines.map((l) => l.replace(/\[\d+:\d+\]$/, "[-]")).join("\n") + nft;
}

/** Every ordered pair of pods: the ones that could not ping. */
async function failures(pods: Pod[]): Promise<string[]> {
  const pairs = pods.flatMap((a) => pods.filter((b) => b !== a).map((b) => [a, b] as const));
  const r = await Promise.all(pairs.map(async ([a, b]) => [a, b, await ping(a, b, 1)] as const));
  return r.filter(([, , ok]) => !ok).map(([a, b]) => `${a.ip} -> ${b.ip}`);
}

/** Pings are retried once: a first ARP on a busy machine can take longer than the 2 s wait. */
async function allReach(pods: Pod[]): Promise<string[]> {
  const first = await failures(pods);
  if (first.length === 0) return first;
  return failures(pods);
}

for (const backend of ["iptables-nft", "iptables-legacy"] as const) {
  Deno.test({
    name:
      `forward (${backend}): FORWARD policy DROP, br_netfilter on and off: every pod pings every pod`,
    ignore: !IS_ROOT,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const c = await Cluster.start({ nodes: 2, podsPerNode: 2, fastdp: true, prefix: "wtfw" });
      try {
        assert.deepEqual(await allReach(c.pods), [], "baseline");
        const before: string[] = [];
        for (const n of c.nodes) {
          await sh(
            "ip",
            "netns",
            "exec",
            n,
            "sysctl",
            "-qw",
            "net.bridge.bridge-nf-call-iptables=1",
          );
          await sh("ip", "netns", "exec", n, backend, "-P", "FORWARD", "DROP");
          before.push(await ruleset(n));
        }
        // Negative control: the policy really drops pod traffic, same node and across nodes.
        const dropped = await failures(c.pods);
        assert.equal(dropped.length, c.pods.length * (c.pods.length - 1), dropped.join(", "));

        for (const n of c.nodes) await forward(n, "apply");
        assert.deepEqual(await allReach(c.pods), [], "FORWARD DROP, br_netfilter on");
        const save = await sh("ip", "netns", "exec", c.nodes[0], `${backend}-save`);
        assert.match(save, /-A FORWARD -i weave -m comment --comment weavets-forward -j ACCEPT/);
        // Applying again changes nothing (a restart, the periodic check).
        const again = await forward(c.nodes[0], "apply") as { changed: boolean };
        assert.equal(again.changed, false);

        for (const n of c.nodes) {
          await sh(
            "ip",
            "netns",
            "exec",
            n,
            "sysctl",
            "-qw",
            "net.bridge.bridge-nf-call-iptables=0",
          );
        }
        assert.deepEqual(await allReach(c.pods), [], "FORWARD DROP, br_netfilter off");

        for (const [i, n] of c.nodes.entries()) {
          await sh(
            "ip",
            "netns",
            "exec",
            n,
            "sysctl",
            "-qw",
            "net.bridge.bridge-nf-call-iptables=1",
          );
          await forward(n, "remove");
          assert.equal(await ruleset(n), before[i], `node ${i}: ruleset as before weavets' rules`);
        }
        // And without them the policy drops again.
        assert.equal(await ping(c.pods[0], c.pods[1], 1), false);
      } finally {
        for (const n of c.nodes) {
          await shTry("ip", ["netns", "exec", n, backend, "-P", "FORWARD", "ACCEPT"]);
        }
        await c.stop();
      }
    },
  });
}
