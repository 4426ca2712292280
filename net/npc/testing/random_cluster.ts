/**
 * TEST DATA — random clusters as the API serves them (namespaces, pods, NetworkPolicies as raw
 * objects, including what the API server would reject), drawn from small vocabularies so that
 * selectors, blocks and named ports overlap often. Used by the property tests.
 */
import fc from "fast-check";

// deno-lint-ignore no-explicit-any
export type Obj = any;

const NAMESPACES = ["ns-a", "ns-b", "ns-c", "ns-d"];
export const NODES = ["n1", "n2"];
const LABEL_KEYS = ["app", "tier", "team"];
const LABEL_VALUES = ["x", "y", "z"];
/** Named container ports: the same name with different numbers and protocols on purpose. */
const NAMED = [
  { name: "http", containerPort: 80, protocol: "TCP" },
  { name: "http", containerPort: 8080, protocol: "TCP" },
  { name: "dns", containerPort: 53, protocol: "UDP" },
  { name: "dns", containerPort: 53, protocol: "TCP" },
  { name: "metrics", containerPort: 9090 },
  { name: "sctp-ctl", containerPort: 3868, protocol: "SCTP" },
];
export const PORTS = [53, 80, 81, 443, 3868, 8080, 9090];
/** Pods live in 10.0.0.0/26; queries also use the rest of the /24 and an outside network. */
export const POD_NET = "10.0.0.";

const labels = fc.dictionary(fc.constantFrom(...LABEL_KEYS), fc.constantFrom(...LABEL_VALUES), {
  maxKeys: 3,
});

const requirement = fc.oneof(
  fc.record({
    key: fc.constantFrom(...LABEL_KEYS, "kubernetes.io/metadata.name"),
    operator: fc.constantFrom("In", "NotIn"),
    values: fc.uniqueArray(fc.constantFrom(...LABEL_VALUES, ...NAMESPACES), {
      minLength: 1,
      maxLength: 2,
    }),
  }),
  fc.record({
    key: fc.constantFrom(...LABEL_KEYS),
    operator: fc.constantFrom("Exists", "DoesNotExist"),
  }),
  // Rejected by the API server: must select nothing.
  { weight: 1, arbitrary: fc.constant({ key: "app", operator: "In", values: [] }) },
);

const selector = fc.oneof(
  { weight: 2, arbitrary: fc.constant({}) },
  {
    weight: 3,
    arbitrary: fc.tuple(fc.constantFrom(...LABEL_KEYS), fc.constantFrom(...LABEL_VALUES))
      .map(([k, v]) => ({ matchLabels: { [k]: v } })),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      matchLabels: fc.option(labels, { nil: undefined }),
      matchExpressions: fc.option(fc.array(requirement, { maxLength: 2 }), { nil: undefined }),
    }, { requiredKeys: [] }),
  },
);

const cidr = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 26, max: 32 }))
    .map(([h, p]) => ({ cidr: `${POD_NET}${h}/${p}`, except: [] as string[] })),
  fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 24, max: 29 }), fc.nat(63))
    .map(([h, p, e]) => ({ cidr: `${POD_NET}${h}/${p}`, except: [`${POD_NET}${e}/31`] })),
  fc.constant({ cidr: "0.0.0.0/0", except: ["10.0.0.0/8"] }),
  fc.constant({ cidr: "192.168.7.0/24" }),
  fc.constant({ cidr: "fd00::/8" }),
  fc.constant({ cidr: "not-a-cidr" }),
);

const peer = fc.oneof(
  { weight: 4, arbitrary: fc.record({ podSelector: selector }) },
  { weight: 3, arbitrary: fc.record({ namespaceSelector: selector }) },
  { weight: 3, arbitrary: fc.record({ podSelector: selector, namespaceSelector: selector }) },
  { weight: 3, arbitrary: fc.record({ ipBlock: cidr }) },
  { weight: 1, arbitrary: fc.constant({}) },
);

const port = fc.oneof(
  { weight: 4, arbitrary: fc.record({ protocol: proto(), port: fc.constantFrom(...PORTS) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      protocol: proto(),
      port: fc.constantFrom(53, 80, 443),
      endPort: fc.constantFrom(53, 81, 8080, 9000),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      protocol: proto(),
      port: fc.constantFrom("http", "dns", "metrics", "sctp-ctl", "nope"),
    }),
  },
  { weight: 1, arbitrary: fc.record({ protocol: proto() }) },
);

function proto() {
  return fc.option(fc.constantFrom("TCP", "UDP", "SCTP"), { nil: undefined });
}

const rule = (peersField: "from" | "to") =>
  fc.record({
    [peersField]: fc.option(fc.array(peer, { maxLength: 3 }), { nil: undefined, freq: 3 }),
    ports: fc.option(fc.array(port, { maxLength: 3 }), { nil: undefined, freq: 2 }),
  }, { requiredKeys: [] });

export const policyObject = (name: string) =>
  fc.record({
    namespace: fc.constantFrom(...NAMESPACES),
    podSelector: selector,
    policyTypes: fc.option(
      fc.constantFrom([], ["Ingress"], ["Egress"], ["Ingress", "Egress"]),
      { nil: undefined },
    ),
    ingress: fc.option(fc.array(rule("from"), { maxLength: 4 }), { nil: undefined, freq: 8 }),
    egress: fc.option(fc.array(rule("to"), { maxLength: 4 }), { nil: undefined }),
  }).map((p): Obj => ({
    metadata: { name, namespace: p.namespace },
    spec: {
      podSelector: p.podSelector,
      ...(p.policyTypes ? { policyTypes: p.policyTypes } : {}),
      ...(p.ingress ? { ingress: p.ingress } : {}),
      ...(p.egress ? { egress: p.egress } : {}),
    },
  }));

export const podObject = (name: string, ip: number) =>
  fc.record({
    namespace: fc.constantFrom(...NAMESPACES),
    labels,
    node: fc.constantFrom(...NODES),
    hostNetwork: fc.boolean().map((b) => b && ip % 7 === 0),
    ports: fc.subarray(NAMED, { maxLength: 3 }),
    phase: fc.constantFrom("Running", "Running", "Running", "Succeeded"),
  }).map((p): Obj => ({
    metadata: { name, namespace: p.namespace, labels: p.labels },
    spec: {
      nodeName: p.node,
      hostNetwork: p.hostNetwork,
      containers: [{ name: "c", ports: p.ports }],
    },
    status: { phase: p.phase, podIP: `${POD_NET}${ip}` },
  }));

export const namespaceObject = (name: string) =>
  labels.map((l): Obj => ({
    metadata: { name, labels: { ...l, "kubernetes.io/metadata.name": name } },
  }));

export interface RawCluster {
  namespaces: Obj[];
  pods: Obj[];
  policies: Obj[];
}

export const rawCluster: fc.Arbitrary<RawCluster> = fc.record({
  // Not every namespace is known: pods may name one the API has not reported.
  namespaces: fc.subarray(NAMESPACES, { minLength: 2 }).chain((names) =>
    fc.tuple(...names.map(namespaceObject))
  ),
  pods: fc.uniqueArray(fc.integer({ min: 1, max: 63 }), { minLength: 1, maxLength: 20 })
    .chain((ips) => fc.tuple(...ips.map((ip, i) => podObject(`pod-${i}`, ip)))),
  policies: fc.integer({ min: 0, max: 10 }).chain((n) =>
    fc.tuple(...Array.from({ length: n }, (_, i) => policyObject(`pol-${i}`)))
  ),
});
