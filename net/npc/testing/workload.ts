/**
 * BENCHMARK DATA — a large, plausible cluster as the API serves it: namespaces of a few teams,
 * pods of many small apps spread over many nodes, and per namespace a default deny plus policies
 * per app (pod and namespace selectors, named ports, port ranges, ipBlocks with except, egress).
 * Deterministic for a given size. Used by bench/npc.ts and the scale tests.
 */
// deno-lint-ignore no-explicit-any
type Obj = any;

export interface WorkloadSize {
  namespaces: number;
  podsPerNamespace: number;
  policiesPerNamespace: number;
  nodes: number;
}

/** The benchmark's size: 1,000 policies over 5,000 pods on 20 nodes. */
export const BENCH_SIZE: WorkloadSize = {
  namespaces: 50,
  podsPerNamespace: 100,
  policiesPerNamespace: 20,
  nodes: 20,
};

export interface Workload {
  namespaces: Obj[];
  pods: Obj[];
  policies: Obj[];
  nodeNames: string[];
}

const APPS = 20;

/**
 * Pod `p` of namespace `n`: runs of 5 pods (5 different apps) share a node, and the runs shift
 * by namespace, so every node hosts pods of every app.
 */
export function podNode(n: number, p: number, nodes: number): number {
  return (Math.floor(p / 5) + n) % nodes;
}

/** The `k`th pod on a node: 10.(32 + node).x.y. */
export function podAddress(node: number, k: number): string {
  const n = k + 2;
  return `10.${32 + node}.${n >> 8}.${n & 255}`;
}

export function workload(size: WorkloadSize = BENCH_SIZE): Workload {
  const nodeNames = Array.from({ length: size.nodes }, (_, i) => `node-${i}`);
  const namespaces: Obj[] = [];
  const pods: Obj[] = [];
  const policies: Obj[] = [];
  const perNode = new Array(size.nodes).fill(0);
  for (let n = 0; n < size.namespaces; n++) {
    const ns = `ns-${n}`;
    namespaces.push({
      metadata: {
        name: ns,
        labels: {
          "kubernetes.io/metadata.name": ns,
          team: `team-${n % 10}`,
          env: n % 3 === 0 ? "prod" : "dev",
        },
      },
    });
    for (let p = 0; p < size.podsPerNamespace; p++) {
      const app = p % APPS;
      const node = podNode(n, p, size.nodes);
      pods.push({
        metadata: {
          name: `app-${app}-${p}`,
          namespace: ns,
          labels: { app: `app-${app}`, tier: ["web", "api", "db"][app % 3], version: `v${p % 2}` },
        },
        spec: {
          nodeName: nodeNames[node],
          containers: [{
            name: "main",
            ports: [
              { name: "http", containerPort: 8080 + (app % 3) },
              { name: "metrics", containerPort: 9090 },
              ...(app % 5 === 0 ? [{ name: "dns", containerPort: 53, protocol: "UDP" }] : []),
            ],
          }],
        },
        status: { phase: "Running", podIP: podAddress(node, perNode[node]++) },
      });
    }
    policies.push({
      metadata: { name: "default-deny", namespace: ns },
      spec: { podSelector: {}, policyTypes: ["Ingress"] },
    });
    for (let k = 1; k < size.policiesPerNamespace; k++) policies.push(appPolicy(ns, n, k));
  }
  return { namespaces, pods, policies, nodeNames };
}

/** Policy `k` of namespace `n`: about app-k, in one of a few shapes. */
export function appPolicy(ns: string, n: number, k: number, variant = 0): Obj {
  const app = `app-${k % APPS}`;
  const ingress: Obj[] = [
    {
      from: [{ podSelector: { matchLabels: { app: `app-${(k + 1) % APPS}` } } }],
      ports: [{ port: "http" }, { port: 9090 + variant }],
    },
    {
      from: [{
        namespaceSelector: { matchLabels: { team: `team-${(n + k) % 10}` } },
        podSelector: {
          matchExpressions: [{ key: "tier", operator: "In", values: ["web", "api"] }],
        },
      }],
      ports: [{ port: "http" }],
    },
  ];
  if (k % 4 === 0) {
    ingress.push({
      from: [{ ipBlock: { cidr: "192.168.0.0/16", except: [`192.168.${k}.0/24`] } }],
      ports: [{ port: 30000, endPort: 32767 }],
    });
  }
  const spec: Obj = {
    podSelector: { matchLabels: { app } },
    ingress,
  };
  if (k % 3 === 0) {
    spec.policyTypes = ["Ingress", "Egress"];
    spec.egress = [
      {
        to: [{ podSelector: { matchLabels: { app: `app-${(k + 2) % APPS}` } } }],
        ports: [{ port: "http" }, { protocol: "TCP", port: 5432 }],
      },
      {
        to: [{ namespaceSelector: { matchLabels: { env: "prod" } } }],
        ports: [{ protocol: "UDP", port: "dns" }],
      },
      { to: [{ ipBlock: { cidr: "10.0.0.0/8", except: ["10.32.0.0/12"] } }] },
    ];
  }
  return { metadata: { name: `allow-${app}-${k}`, namespace: ns }, spec };
}
