import assert from "node:assert/strict";
import { parseIPv4 } from "../addr/mod.ts";
import { networkPolicySchema, podSchema, toPod, toPolicy } from "./objects.ts";
import { matches, parseSelector } from "./selector.ts";

const policy = (spec: unknown) =>
  toPolicy(networkPolicySchema.parse({ metadata: { name: "p", namespace: "ns" }, spec }));

Deno.test("policyTypes defaults as the API does: Ingress, plus Egress when egress rules exist", () => {
  assert.deepEqual(policy({ podSelector: {} }).ingress, []);
  assert.equal(policy({ podSelector: {} }).egress, null);
  // An empty egress list is no egress rule: still Ingress only.
  assert.equal(policy({ podSelector: {}, egress: [] }).egress, null);
  const both = policy({ podSelector: {}, egress: [{}] });
  assert.deepEqual(both.ingress, []);
  assert.deepEqual(both.egress, [{ peers: null, ports: null }]);
  // An empty policyTypes list defaults too; an explicit one is taken as it is.
  assert.equal(policy({ podSelector: {}, policyTypes: [] }).egress, null);
  const eg = policy({ podSelector: {}, policyTypes: ["Egress"], ingress: [{}] });
  assert.equal(eg.ingress, null);
  assert.deepEqual(eg.egress, []);
});

Deno.test("empty or absent from/to/ports mean all; a rule list means only those rules", () => {
  const p = policy({
    podSelector: {},
    ingress: [{ from: [], ports: [] }, {}, { from: [{ podSelector: {} }] }],
  });
  assert.deepEqual(p.ingress!.map((r) => [r.peers === null, r.ports === null]), [
    [true, true],
    [true, true],
    [false, true],
  ]);
  assert.deepEqual(p.problems, []);
});

Deno.test("peers: podSelector alone is the policy's namespace; both selectors combine", () => {
  const p = policy({
    podSelector: {},
    ingress: [{
      from: [
        { podSelector: { matchLabels: { a: "b" } } },
        { namespaceSelector: {} },
        { namespaceSelector: { matchLabels: { t: "u" } }, podSelector: {} },
      ],
    }],
  });
  const [a, b, c] = p.ingress![0].peers!;
  assert.deepEqual(a, {
    kind: "pods",
    namespaces: null,
    pods: parseSelector({ matchLabels: { a: "b" } }),
    policyNamespace: "ns",
  });
  assert.equal(b.kind === "pods" && b.pods, null);
  assert.ok(c.kind === "pods" && c.namespaces && c.pods);
});

Deno.test("ipBlock: host bits allowed, except inside, IPv6 matches nothing, bad input rejected", () => {
  const peers = policy({
    podSelector: {},
    egress: [{
      to: [
        { ipBlock: { cidr: "10.32.0.5/4", except: ["10.32.0.5/32"] } },
        { ipBlock: { cidr: "fd00::/8" } },
        { ipBlock: { cidr: "10.0.0.0/24", except: ["10.1.0.0/24"] } },
        { ipBlock: { cidr: "10.0.0.0/33" } },
        { ipBlock: { cidr: "10.0.0.0/8" }, podSelector: {} },
        {},
      ],
    }],
  }).egress![0].peers!;
  assert.deepEqual(peers[0], {
    kind: "block",
    cidr: { lo: 0, hi: parseIPv4("15.255.255.255") },
    except: [{ lo: parseIPv4("10.32.0.5"), hi: parseIPv4("10.32.0.5") }],
  });
  assert.deepEqual(peers.slice(1).map((p) => p.kind), Array(5).fill("invalid"));
});

Deno.test("ports: protocol defaults to TCP; endPort ranges; named; invalid ones allow nothing", () => {
  const ports = policy({
    podSelector: {},
    ingress: [{
      ports: [
        { port: 80 },
        { protocol: "UDP", port: 53, endPort: 60 },
        { port: "serve-80-tcp" },
        { protocol: "SCTP" },
        { port: 80, endPort: 79 },
        { port: "http", endPort: 90 },
        { protocol: "ICMP", port: 1 },
        { port: "80" },
      ],
    }],
  });
  assert.deepEqual(ports.ingress![0].ports!.slice(0, 4), [
    { kind: "number", protocol: "TCP", port: 80, endPort: 80 },
    { kind: "number", protocol: "UDP", port: 53, endPort: 60 },
    { kind: "named", protocol: "TCP", name: "serve-80-tcp" },
    { kind: "all", protocol: "SCTP" },
  ]);
  assert.deepEqual(ports.ingress![0].ports!.slice(4).map((p) => p.kind), Array(4).fill("invalid"));
  assert.equal(ports.problems.length, 4);
});

Deno.test("a spec that is not an object isolates the whole namespace, both ways", () => {
  const p = policy("garbage");
  assert.ok(matches(p.podSelector, { any: "pod" }));
  assert.deepEqual([p.ingress, p.egress], [[], []]);
  assert.equal(p.problems.length, 1);
});

Deno.test("pods: IPv4 podIPs, named ports with protocol, finished pods hold no address", () => {
  const raw = {
    metadata: { name: "a", namespace: "ns", labels: { app: "web" } },
    spec: {
      nodeName: "n1",
      containers: [{ ports: [{ name: "http", containerPort: 80 }, { containerPort: 81 }] }],
      initContainers: [{ ports: [{ name: "dns", containerPort: 53, protocol: "UDP" }] }],
    },
    status: { phase: "Running", podIPs: [{ ip: "10.32.0.7" }, { ip: "fd00::7" }] },
  };
  const pod = toPod(podSchema.parse(raw));
  assert.deepEqual(pod.ips, [parseIPv4("10.32.0.7")]);
  assert.deepEqual(pod.ports, [
    { name: "http", protocol: "TCP", port: 80 },
    { name: "dns", protocol: "UDP", port: 53 },
  ]);
  const done = toPod(podSchema.parse({ ...raw, status: { ...raw.status, phase: "Succeeded" } }));
  assert.deepEqual(done.ips, []);
});
