/**
 * TEST ORACLE — the NetworkPolicy semantics written as plainly as the API reference states them,
 * one query at a time, with no classes, sets or caches. The property tests hold the compiled
 * engine to it. Nothing here is used by the daemon.
 *
 * A connection from `src` to `dst` is allowed iff the source pod's egress allows it and the
 * destination pod's ingress allows it. A pod no policy of a direction selects is open in that
 * direction; otherwise some rule of some selecting policy must match both the peer and the port.
 */
import type { ClusterModel } from "../cluster.ts";
import { matches } from "../selector.ts";
import type { Peer, PodInfo, PolicyInfo, PortSpec, Protocol, Rule } from "../types.ts";

export interface Query {
  src: number;
  dst: number;
  /** "ICMP" stands for any protocol without ports. */
  protocol: Protocol | "ICMP";
  port: number;
}

export interface ReferenceOptions {
  /** Protocols the kernel cannot filter: their port entries allow nothing. */
  supported?: (p: Protocol) => boolean;
}

export function referenceEgress(m: ClusterModel, q: Query, o: ReferenceOptions = {}): boolean {
  const src = m.podAt(q.src);
  if (!src) return true;
  const selecting = policiesSelecting(m, src, "egress");
  if (selecting.length === 0) return true;
  const dst = m.podAt(q.dst);
  return selecting.some((p) =>
    p.egress!.some((r) => peerOk(m, r, q.dst, dst) && portOk(r, q, dst, o))
  );
}

export function referenceIngress(m: ClusterModel, q: Query, o: ReferenceOptions = {}): boolean {
  const dst = m.podAt(q.dst);
  if (!dst) return true;
  const selecting = policiesSelecting(m, dst, "ingress");
  if (selecting.length === 0) return true;
  const src = m.podAt(q.src);
  return selecting.some((p) =>
    p.ingress!.some((r) => peerOk(m, r, q.src, src) && portOk(r, q, dst, o))
  );
}

export function policiesSelecting(
  m: ClusterModel,
  pod: PodInfo,
  dir: "ingress" | "egress",
): PolicyInfo[] {
  return [...m.policies.values()].filter((p) =>
    p.namespace === pod.namespace && p[dir] !== null && matches(p.podSelector, pod.labels)
  );
}

function peerOk(m: ClusterModel, r: Rule, ip: number, pod: PodInfo | undefined): boolean {
  return r.peers === null || r.peers.some((peer) => peerMatches(m, peer, ip, pod));
}

function peerMatches(m: ClusterModel, peer: Peer, ip: number, pod: PodInfo | undefined): boolean {
  switch (peer.kind) {
    case "invalid":
      return false;
    case "block":
      return ip >= peer.cidr.lo && ip <= peer.cidr.hi &&
        !peer.except.some((e) => ip >= e.lo && ip <= e.hi);
    case "pods": {
      if (!pod) return false;
      const nsOk = peer.namespaces === null
        ? pod.namespace === peer.policyNamespace
        : matches(peer.namespaces, m.namespaceLabels(pod.namespace));
      return nsOk && (peer.pods === null || matches(peer.pods, pod.labels));
    }
  }
}

function portOk(r: Rule, q: Query, dst: PodInfo | undefined, o: ReferenceOptions): boolean {
  if (r.ports === null) return true;
  if (q.protocol === "ICMP") return false;
  return r.ports.some((spec) => portMatches(spec, q, dst, o));
}

function portMatches(
  spec: PortSpec,
  q: Query,
  dst: PodInfo | undefined,
  o: ReferenceOptions,
): boolean {
  if (spec.kind === "invalid" || spec.protocol !== q.protocol) return false;
  if (o.supported && !o.supported(spec.protocol)) return false;
  switch (spec.kind) {
    case "all":
      return true;
    case "number":
      return q.port >= spec.port && q.port <= spec.endPort;
    case "named":
      return dst !== undefined &&
        dst.ports.some((p) =>
          p.name === spec.name && p.protocol === spec.protocol && p.port === q.port
        );
  }
}
