import assert from "node:assert/strict";
import { parseIPv4 } from "../addr/mod.ts";
import { ClusterModel } from "./cluster.ts";
import { compile, Compiler } from "./compile.ts";
import { networkPolicySchema, podSchema, toPod, toPolicy } from "./objects.ts";
import { diffScript, fullScript } from "./ruleset.ts";
import type { Protocol } from "./types.ts";
import { Evaluator } from "./verdict.ts";

const ip = parseIPv4;
const all = () => true;

function pod(name: string, addr: string, labels: Record<string, string>, node = "n1", ns = "x") {
  return toPod(podSchema.parse({
    metadata: { name, namespace: ns, labels },
    spec: {
      nodeName: node,
      containers: [{
        ports: [
          { name: "serve-80-tcp", containerPort: 80 },
          { name: "serve-81-udp", containerPort: 81, protocol: "UDP" },
        ],
      }],
    },
    status: { phase: "Running", podIP: addr },
  }));
}

function policy(name: string, spec: unknown, ns = "x") {
  return toPolicy(networkPolicySchema.parse({ metadata: { name, namespace: ns }, spec }));
}

function build(
  m: ClusterModel,
  opts: { ranges?: string[]; supported?: (p: Protocol) => boolean } = {},
) {
  const localRanges = (opts.ranges ?? []).map((r) => {
    const [lo, hi] = r.split("-");
    return { lo: ip(lo), hi: ip(hi) };
  });
  return compile(m, { node: "n1", supported: opts.supported ?? all }, localRanges).elements;
}

const conn = (src: string, dst: string, protocol: Protocol | "ICMP" = "TCP", port = 80) => ({
  src: ip(src),
  dst: ip(dst),
  protocol,
  port,
});

Deno.test("a pod bound by the CNI plugin before the API knows it is closed where policies govern", () => {
  const m = new ClusterModel();
  m.upsertPolicy(policy("deny-in", { podSelector: { matchLabels: { none: "x" } } }));
  m.bind(ip("10.0.0.9"), { namespace: "x", name: "new", containerId: "c1" });
  m.bind(ip("10.0.0.8"), { namespace: "y", name: "other", containerId: "c2" });
  const state = build(m);
  const ev = new Evaluator(state);
  // Namespace x has an ingress policy: its unknown pod could be selected, so it is closed.
  assert.equal(ev.evaluate(conn("10.0.0.1", "10.0.0.9")).ingress, "deny");
  assert.equal(ev.evaluate(conn("10.0.0.9", "10.0.0.1")).egress, "pass");
  // Namespace y has none: its pod is open.
  assert.equal(ev.evaluate(conn("10.0.0.1", "10.0.0.8")).ingress, "pass");
  // Once the API reports the pod, its labels decide: not selected, open.
  m.upsertPod(pod("new", "10.0.0.9", { app: "a" }));
  assert.equal(
    new Evaluator(build(m)).evaluate(conn("10.0.0.1", "10.0.0.9")).ingress,
    "pass",
  );
});

Deno.test("addresses of this node's ranges that no pod holds are closed both ways", () => {
  const m = new ClusterModel();
  m.upsertPod(pod("a", "10.0.0.2", {}));
  const ev = new Evaluator(build(m, { ranges: ["10.0.0.0-10.0.0.63"] }));
  assert.ok(ev.passes(conn("10.0.0.2", "10.9.9.9")));
  assert.ok(!ev.passes(conn("10.0.0.3", "10.0.0.2")));
  assert.ok(!ev.passes(conn("10.0.0.2", "10.0.0.3")));
  assert.ok(ev.passes(conn("10.0.0.64", "10.0.0.2")), "outside the ranges: another node's pod");
});

Deno.test("named ports resolve on the destination, by name and protocol", () => {
  const m = new ClusterModel();
  m.upsertPod(pod("a", "10.0.0.2", { pod: "a" }));
  m.upsertPod(pod("b", "10.0.0.3", { pod: "b" }, "n2"));
  m.upsertPolicy(policy("in", {
    podSelector: { matchLabels: { pod: "a" } },
    ingress: [{ ports: [{ port: "serve-80-tcp" }, { protocol: "UDP", port: "serve-81-udp" }] }],
  }));
  m.upsertPolicy(policy("out", {
    podSelector: { matchLabels: { pod: "a" } },
    policyTypes: ["Egress"],
    egress: [{ ports: [{ port: "serve-80-tcp" }, { protocol: "TCP", port: "serve-81-udp" }] }],
  }));
  const ev = new Evaluator(build(m));
  assert.equal(ev.evaluate(conn("10.0.0.3", "10.0.0.2", "TCP", 80)).ingress, "allow");
  assert.equal(ev.evaluate(conn("10.0.0.3", "10.0.0.2", "UDP", 81)).ingress, "allow");
  assert.equal(ev.evaluate(conn("10.0.0.3", "10.0.0.2", "TCP", 81)).ingress, "deny");
  // Egress: b's named TCP port 80 is allowed; serve-81-udp asked as TCP names no port of b.
  assert.equal(ev.evaluate(conn("10.0.0.2", "10.0.0.3", "TCP", 80)).egress, "allow");
  assert.equal(ev.evaluate(conn("10.0.0.2", "10.0.0.3", "TCP", 81)).egress, "deny");
  assert.equal(ev.evaluate(conn("10.0.0.2", "10.9.9.9", "TCP", 80)).egress, "deny", "not a pod");
});

Deno.test("SCTP entries allow nothing where the kernel has no SCTP", () => {
  const m = new ClusterModel();
  m.upsertPod(pod("a", "10.0.0.2", {}));
  m.upsertPolicy(
    policy("sctp", { podSelector: {}, ingress: [{ ports: [{ protocol: "SCTP", port: 80 }] }] }),
  );
  const without = new Evaluator(build(m, { supported: (p) => p !== "SCTP" }));
  assert.equal(without.evaluate(conn("10.0.0.5", "10.0.0.2", "SCTP")).ingress, "deny");
  assert.equal(without.evaluate(conn("10.0.0.5", "10.0.0.2", "TCP")).ingress, "deny");
  const withSctp = new Evaluator(build(m));
  assert.equal(withSctp.evaluate(conn("10.0.0.5", "10.0.0.2", "SCTP")).ingress, "allow");
  assert.equal(withSctp.evaluate(conn("10.0.0.5", "10.0.0.2", "TCP")).ingress, "deny");
});

Deno.test("a change is a small element diff; a diff applied gives the new elements", () => {
  const m = new ClusterModel();
  for (let i = 2; i < 40; i++) {
    m.upsertPod(pod(`p${i}`, `10.0.0.${i}`, { app: `a${i % 5}` }, i % 2 ? "n1" : "n2"));
  }
  m.upsertPolicy(policy("web", {
    podSelector: { matchLabels: { app: "a1" } },
    ingress: [{
      from: [{ podSelector: { matchLabels: { app: "a2" } } }],
      ports: [{ port: 80, endPort: 90 }],
    }],
  }));
  const compiler = new Compiler({ node: "n1", supported: all });
  const first = compiler.commit(m, m.takeChanges(), []);
  const before = new Map([...first.elements].map(([k, v]) => [k, new Set(v)]));
  assert.equal(first.diff.count, [...before.values()].reduce((n, s) => n + s.size, 0));
  m.upsertPod(pod("p8", "10.0.0.8", { app: "a2" }, "n2"));
  const { elements: after, diff: d } = compiler.commit(m, m.takeChanges(), []);
  assert.ok(d.count > 0 && d.count < 10, `diff of ${d.count} elements`);
  for (const [set, els] of d.remove) for (const e of els) before.get(set)!.delete(e);
  for (const [set, els] of d.add) for (const e of els) before.get(set)!.add(e);
  assert.deepEqual(before, after);
  assert.match(diffScript(d), /^(delete|add) element inet weavets_npc /m);
  // Nothing changed: nothing to apply; an update that changes nothing read is no change.
  m.upsertPod(pod("p8", "10.0.0.8", { app: "a2" }, "n2"));
  assert.equal(diffScript(compiler.commit(m, m.takeChanges(), []).diff), "");
  assert.match(fullScript(after), /elements = \{ 10\.0\.0\.\d+ \. 0x0001/);
});
