/**
 * The NetworkPolicy model the engine works on: plain data, normalised once at the edge
 * (objects.ts) from the Kubernetes objects. Addresses are IPv4 numbers (net/addr). Leaf module:
 * it imports nothing.
 */

export type Protocol = "TCP" | "UDP" | "SCTP";
export const PROTOCOLS: readonly Protocol[] = ["TCP", "UDP", "SCTP"];

export type Labels = Readonly<Record<string, string>>;

export interface Requirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  /** Sorted, without duplicates. */
  values: string[];
}

/**
 * A label selector: every matchLabels pair and every requirement must hold; empty selects
 * everything. `invalid` (a reason) selects nothing: the API server rejects such selectors, so
 * one that arrives anyway must not widen what a policy allows.
 */
export interface Selector {
  matchLabels: Labels;
  requirements: Requirement[];
  invalid?: string;
}

/** A named container port of a pod (`spec.containers[].ports[]` with a name). */
export interface NamedPort {
  name: string;
  protocol: Protocol;
  port: number;
}

export interface PodInfo {
  namespace: string;
  name: string;
  labels: Labels;
  /** IPv4 pod addresses (status.podIPs); empty while the pod has none. */
  ips: number[];
  /** Pods on the host network are never policed nor selected as peers. */
  hostNetwork: boolean;
  /** spec.nodeName ("" while unscheduled). */
  nodeName: string;
  ports: NamedPort[];
}

export interface NamespaceInfo {
  name: string;
  labels: Labels;
}

/** An inclusive IPv4 range [lo, hi]. */
export interface IpRange {
  lo: number;
  hi: number;
}

/** One entry of a rule's `from`/`to`. */
export type Peer =
  | {
    kind: "pods";
    /** Null: only the policy's own namespace (a peer with a podSelector alone). */
    namespaces: Selector | null;
    /** Null: every pod of the selected namespaces (a peer with a namespaceSelector alone). */
    pods: Selector | null;
    /** The policy's namespace, used when `namespaces` is null. */
    policyNamespace: string;
  }
  | { kind: "block"; cidr: IpRange; except: IpRange[] }
  /** A peer the API would reject (both kinds, neither, a bad CIDR): it matches nothing. */
  | { kind: "invalid"; reason: string };

/** One entry of a rule's `ports`. */
export type PortSpec =
  | { kind: "number"; protocol: Protocol; port: number; endPort: number }
  | { kind: "named"; protocol: Protocol; name: string }
  /** `{protocol}` alone: every port of that protocol. */
  | { kind: "all"; protocol: Protocol }
  | { kind: "invalid"; reason: string };

export interface Rule {
  /** Null: every peer (an absent or empty `from`/`to`). */
  peers: Peer[] | null;
  /** Null: every port and protocol (an absent or empty `ports`). */
  ports: PortSpec[] | null;
}

export interface PolicyInfo {
  namespace: string;
  name: string;
  podSelector: Selector;
  /** Null when the policy does not govern ingress (policyTypes, after defaulting). */
  ingress: Rule[] | null;
  egress: Rule[] | null;
  /** What the API server would have rejected, for the log; such parts allow nothing. */
  problems: string[];
}

export type Direction = "ingress" | "egress";

/** `namespace/name`, the key of pods and policies. */
export function objectKey(o: { namespace: string; name: string }): string {
  return `${o.namespace}/${o.name}`;
}
