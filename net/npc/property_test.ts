/**
 * The compiled engine against the reference semantics (testing/reference.ts) over random clusters:
 * for every query (source, destination, protocol, port) the verdict computed from the nftables
 * elements the daemon would load equals the reference's, for each pod of the node in each
 * direction. Each cluster is then changed into another at random and compiled incrementally (only
 * what changed), and checked again; each increment's element diff must turn the elements before
 * into the elements after. NPC_PROPERTY_RUNS scales it.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseIPv4 } from "../addr/mod.ts";
import { ClusterModel } from "./cluster.ts";
import { Compiler } from "./compile.ts";
import type { Elements } from "./elements.ts";
import { syncModel } from "./testing/sync.ts";
import { NODES, POD_NET, PORTS, type RawCluster, rawCluster } from "./testing/random_cluster.ts";
import { type Query, referenceEgress, referenceIngress } from "./testing/reference.ts";
import type { Protocol } from "./types.ts";
import { Evaluator } from "./verdict.ts";

const RUNS = Number(Deno.env.get("NPC_PROPERTY_RUNS") ?? "300");
const QUERIES_PER_STATE = 300;

const PROTOCOLS: Array<Protocol | "ICMP"> = ["TCP", "TCP", "TCP", "UDP", "UDP", "SCTP", "ICMP"];
const OTHER_ADDRESSES = [65, 100, 255].map((h) => `${POD_NET}${h}`)
  .concat(["192.168.7.1", "192.168.7.200", "8.8.8.8"]).map(parseIPv4);

/**
 * Queries between the cluster's pods mostly (so most reach a local pod), sometimes from or to
 * other addresses, drawn with a small PRNG from `seed`.
 */
function queries(raw: RawCluster[], seed: number): Query[] {
  const podIps = [...new Set(raw.flatMap((c) => c.pods.map((p) => parseIPv4(p.status.podIP))))];
  let x = seed | 1;
  const rand = (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  const addr = () =>
    rand(10) < 8 ? podIps[rand(podIps.length)] : OTHER_ADDRESSES[rand(OTHER_ADDRESSES.length)];
  return Array.from({ length: QUERIES_PER_STATE }, () => ({
    src: addr(),
    dst: addr(),
    protocol: PROTOCOLS[rand(PROTOCOLS.length)],
    port: rand(10) === 0 ? rand(65536) : PORTS[rand(PORTS.length)],
  }));
}

/** Comparisons by what decided: no policy, a policy allowing, a policy denying. */
const stats = { unpoliced: 0, allowed: 0, denied: 0 };

/** A compiler for each node of the random clusters. */
function nodes(sctp: boolean): Map<string, Compiler> {
  const supported = (p: Protocol) => sctp || p !== "SCTP";
  return new Map(NODES.map((node) => [node, new Compiler({ node, supported })]));
}

function copy(el: Elements): Elements {
  return new Map([...el].map(([k, v]) => [k, new Set(v)]));
}

/**
 * Compiles `m` for each node and compares every query with the reference evaluated on `ref`
 * (the same model, or a deliberately altered one for the negative controls). Returns the first
 * disagreement.
 */
function disagreement(
  m: ClusterModel,
  ref: ClusterModel,
  compilers: Map<string, Compiler>,
  queries: Query[],
): string | undefined {
  const changes = m.takeChanges();
  for (const [node, compiler] of compilers) {
    const before = copy(compiler.elements);
    const { state, elements, diff } = compiler.commit(m, changes, []);
    for (const [set, els] of diff.remove) for (const e of els) before.get(set)!.delete(e);
    for (const [set, els] of diff.add) for (const e of els) before.get(set)!.add(e);
    assert.deepEqual(before, elements, "the diff turns the elements before into those after");
    const supported = compiler.supported;
    const ev = new Evaluator(elements);
    const local = new Map(state.local.flatMap((p) => p.ips.map((ip) => [ip, p])));
    for (const q of queries) {
      const v = ev.evaluate(q);
      assert.equal(v.unbound, false);
      for (const dir of ["egress", "ingress"] as const) {
        const pod = dir === "egress" ? q.src : q.dst;
        if (!local.has(pod)) {
          assert.equal(v[dir], "pass", `only local pods are policed (${dir})`);
          continue;
        }
        const policed = local.get(pod)![dir] !== null;
        stats[!policed ? "unpoliced" : v[dir] === "deny" ? "denied" : "allowed"]++;
        const want = (dir === "egress" ? referenceEgress : referenceIngress)(ref, q, { supported });
        if ((v[dir] !== "deny") !== want) return `${dir} ${JSON.stringify(q)} on ${node}`;
      }
    }
  }
  return undefined;
}

Deno.test("compiled verdicts equal the reference semantics over random clusters", () => {
  Object.assign(stats, { unpoliced: 0, allowed: 0, denied: 0 });
  fc.assert(
    fc.property(
      rawCluster,
      rawCluster,
      fc.integer(),
      fc.boolean(),
      (a, b, seed, sctp) => {
        const qs = queries([a, b], seed);
        const m = new ClusterModel();
        const compilers = nodes(sctp);
        syncModel(m, a);
        assert.equal(disagreement(m, m, compilers, qs), undefined);
        syncModel(m, b);
        assert.equal(disagreement(m, m, compilers, qs), undefined);
      },
    ),
    { numRuns: RUNS },
  );
  // Each query is compared once per direction whose pod is local to the node compiled.
  const total = stats.unpoliced + stats.allowed + stats.denied;
  assert.ok(total >= 100_000, `only ${total} comparisons`);
  // Every answer must be common, or agreement would say little.
  for (const [k, n] of Object.entries(stats)) assert.ok(n > total / 20, `${k}: ${n} of ${total}`);
  console.log(`  ${total} verdicts compared with the reference: ${JSON.stringify(stats)}`);
});

/** A raw cluster changed in one aspect of the semantics, for the negative controls. */
function altered(raw: RawCluster, how: string): RawCluster {
  const c = structuredClone(raw);
  const peers = c.policies.flatMap((p) =>
    [...(p.spec.ingress ?? []), ...(p.spec.egress ?? [])]
      .flatMap((r) => [...(r.from ?? []), ...(r.to ?? [])])
  );
  if (how === "no except") { for (const p of peers) if (p.ipBlock) delete p.ipBlock.except; }
  if (how === "no named ports") { for (const p of c.pods) p.spec.containers = []; }
  if (how === "podSelector across namespaces") {
    for (const p of peers) if (p.podSelector && !p.namespaceSelector) p.namespaceSelector = {};
  }
  return c;
}

for (const how of ["no except", "no named ports", "podSelector across namespaces"]) {
  Deno.test(`negative control: a reference with "${how}" disagrees with the engine`, () => {
    const r = fc.check(
      fc.property(rawCluster, fc.integer(), (a, seed) => {
        const m = new ClusterModel();
        const ref = new ClusterModel();
        syncModel(m, a);
        syncModel(ref, altered(a, how));
        return disagreement(m, ref, nodes(true), queries([a], seed)) === undefined;
      }),
      { numRuns: 2000, endOnFailure: true },
    );
    assert.ok(r.failed, "the comparison found no difference: it could not catch this fault");
  });
}
