/**
 * The ruleset against its model (root): random clusters compiled for a node, loaded into that
 * node's kernel (a namespace with a bridge and six pod namespaces on it, bridge netfilter on,
 * TCP and UDP servers on ports 80 and 81 in every pod), then every ordered pair of pods probed
 * for each protocol and port: the kernel must let through exactly what the evaluator
 * (net/npc/verdict.ts, which `weavets policy check` and the property tests use) says. Each
 * cluster is then changed into another and the difference applied as one transaction, and
 * probed again. NPC_KERNEL_RUNS sets how many clusters (default 12).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  addAddress,
  createBridge,
  createVeth,
  inNetns,
  setLinkUp,
  setMaster,
  writeSysctl,
} from "../../net/linux/mod.ts";
import { runNft } from "../../net/linux/nftables.ts";
import { parseIPv4 } from "../../net/addr/mod.ts";
import { ClusterModel } from "../../net/npc/cluster.ts";
import { Compiler } from "../../net/npc/compile.ts";
import { syncModel } from "../../net/npc/testing/sync.ts";
import { deleteScript, diffScript, fullScript } from "../../net/npc/ruleset.ts";
import { namespaceObject, podObject, policyObject } from "../../net/npc/testing/random_cluster.ts";
import { Evaluator } from "../../net/npc/verdict.ts";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { Prober } from "./probe.ts";

const RUNS = Number(Deno.env.get("NPC_KERNEL_RUNS") ?? "20");
/** Pod addresses: inside the random policies' ipBlocks (10.0.0.0/26). */
const HOSTS = [10, 11, 12, 13, 14, 15];
const CASES = [
  { proto: "TCP" as const, port: 80 },
  { proto: "TCP" as const, port: 81 },
  { proto: "UDP" as const, port: 80 },
  { proto: "UDP" as const, port: 81 },
];

// deno-lint-ignore no-explicit-any
type Obj = any;

const cluster = fc.record({
  namespaces: fc.tuple(...["ns-a", "ns-b", "ns-c", "ns-d"].map(namespaceObject)),
  pods: fc.tuple(...HOSTS.map((h, i) => podObject(`pod-${i}`, h))),
  policies: fc.integer({ min: 1, max: 6 }).chain((n) =>
    fc.tuple(...Array.from({ length: n }, (_, i) => policyObject(`pol-${i}`)))
  ),
});

/**
 * A pod with a pod class (app=x is a pod peer) that one rule admits as a pod and another only by
 * its address (an ipBlock): the kernel must check both the pod class and the block class.
 */
const BOTH_KINDS = {
  namespaces: [{ metadata: { name: "ns-a", labels: {} } }],
  pods: HOSTS.map((h, i) => ({
    metadata: { name: `pod-${i}`, namespace: "ns-a", labels: i === 0 ? { app: "x" } : {} },
    spec: { nodeName: "n1" },
    status: { phase: "Running", podIP: `10.0.0.${h}` },
  })),
  policies: [
    {
      metadata: { name: "pods", namespace: "ns-a" },
      spec: {
        podSelector: {},
        ingress: [{
          from: [{ podSelector: { matchLabels: { app: "x" } } }],
          ports: [{ port: 80 }],
        }],
      },
    },
    {
      metadata: { name: "block", namespace: "ns-a" },
      spec: {
        podSelector: {},
        ingress: [{
          from: [{ ipBlock: { cidr: `10.0.0.${HOSTS[0]}/32` } }],
          ports: [{ port: 81 }],
        }],
      },
    },
  ],
};

Deno.test({
  name: "npc ruleset: the kernel lets through exactly what the evaluator says (random clusters)",
  ignore: !IS_ROOT,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withNamespaces("wtnk", async (ns) => {
      const node = `/run/netns/${ns.add("node")}`;
      inNetns(node, () => {
        writeSysctl("net/bridge/bridge-nf-call-iptables", "1");
        createBridge("br0");
        setLinkUp("br0");
      });
      const pods: Array<{ netns: string; ip: string }> = [];
      const prober = new Prober();
      try {
        for (const h of HOSTS) {
          const netns = `/run/netns/${ns.add("pod")}`;
          inNetns(node, () => {
            createVeth(`vp${h}`, "eth0", { peerNetns: netns });
            setMaster(`vp${h}`, "br0");
            setLinkUp(`vp${h}`);
          });
          inNetns(netns, () => {
            addAddress("eth0", `10.0.0.${h}/24`);
            setLinkUp("eth0");
          });
          prober.serve(netns, [80, 81]);
          pods.push({ netns, ip: `10.0.0.${h}` });
        }
        const samples = [
          [BOTH_KINDS, BOTH_KINDS],
          ...fc.sample(fc.tuple(cluster, cluster), { numRuns: RUNS, seed: 42 }),
        ];
        let compared = 0;
        for (const [a, b] of samples) {
          const m = new ClusterModel();
          const compiler = new Compiler({ node: "n1", supported: (p) => p !== "SCTP" });
          syncModel(m, a);
          let r = compiler.commit(m, m.takeChanges(), []);
          inNetns(node, () => runNft(fullScript(r.elements)));
          compared += await compare(prober, pods, new Evaluator(r.elements), "first load");
          syncModel(m, b);
          r = compiler.commit(m, m.takeChanges(), []);
          inNetns(node, () => runNft(diffScript(r.diff)));
          compared += await compare(prober, pods, new Evaluator(r.elements), "after a change");
        }
        inNetns(node, () => runNft(deleteScript()));
        console.log(`  ${compared} probes agreed with the evaluator`);
      } finally {
        prober.close();
      }
    });
  },
});

async function compare(
  prober: Prober,
  pods: Array<{ netns: string; ip: string }>,
  ev: Evaluator,
  when: string,
): Promise<number> {
  const diffs: string[] = [];
  const probes: Array<Promise<void>> = [];
  for (const from of pods) {
    for (const to of pods) {
      if (from === to) continue;
      for (const c of CASES) {
        const want = ev.passes({
          src: parseIPv4(from.ip),
          dst: parseIPv4(to.ip),
          protocol: c.proto,
          port: c.port,
        });
        probes.push((async () => {
          let got = await prober.probe(from.netns, to.ip, c.proto, c.port, 500);
          // A busy machine can be slow to answer: an allowed one gets a second, longer chance
          // (a blocked one passing cannot be slowness).
          if (!got && want) got = await prober.probe(from.netns, to.ip, c.proto, c.port, 3000);
          if (got !== want) {
            diffs.push(
              `${from.ip} -> ${to.ip} ${c.proto}/${c.port}: kernel ${got}, evaluator ${want}`,
            );
          }
        })());
      }
    }
  }
  await Promise.all(probes);
  assert.deepEqual(diffs.sort(), [], when);
  return probes.length;
}
