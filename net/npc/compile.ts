/**
 * The compile step, pure: from the cluster model to what this node enforces. For each pod on the
 * node and each direction some policy selects it for, the entries "peer class (or any peer) ×
 * port range (or any traffic)" that its policies allow, each tagged with the policy rule it came
 * from; plus the peer classification those entries refer to (classify.ts). elements.ts turns the
 * result into nftables set elements; verdict.ts evaluates it exactly as the kernel rules do.
 *
 * Semantics (networking.k8s.io/v1): a pod selected by no policy of a direction is open in that
 * direction; otherwise traffic passes when some rule of some selecting policy matches both the
 * peer and the port. Named ports are resolved on the destination: for ingress on the local pod,
 * for egress on each peer class. A pod the CNI plugin bound before the API reported it is closed
 * in each direction some policy of its namespace governs, until its labels are known.
 */
import { type Classification, classify, type Matcher, matcherKey } from "./classify.ts";
import type { ClusterModel } from "./cluster.ts";
import { Interner } from "./interner.ts";
import { namedKey, type PortRange, resolvePort } from "./ports.ts";
import { matches } from "./selector.ts";
import type { Direction, IpRange, PolicyInfo, Protocol } from "./types.ts";

export interface Entry {
  /** A peer class, or every peer. */
  peer: number | "all";
  /** Absent: every protocol and port. */
  range?: PortRange;
  /** The policy key and rule index this entry comes from. */
  policy: string;
  rule: number;
}

export interface DirectionRules {
  /** Keys of the policies that select the pod in this direction. */
  policies: string[];
  /** The rules that allow every peer on every port (the direction is open). */
  openBy: Array<{ policy: string; rule: number }>;
  /** Bound by the CNI plugin, labels not known yet: closed. */
  pending: boolean;
  entries: Entry[];
}

export interface LocalPod {
  key: string;
  ips: number[];
  /** Null: no policy governs this direction, traffic passes. */
  ingress: DirectionRules | null;
  egress: DirectionRules | null;
}

export interface PolicyState {
  local: LocalPod[];
  /** This node's pod address ranges (IPAM): an address there bound to no pod is closed. */
  localRanges: IpRange[];
  peers: Classification;
}

/** Numbers that must stay stable from one compile to the next (see interner.ts). */
export class CompileMemory {
  readonly matcherIds = new Interner(Number.MAX_SAFE_INTEGER);
  /** Classes travel in 16 bits of the packet mark. */
  readonly classIds = new Interner(0xffff);
}

export interface CompileInput {
  model: ClusterModel;
  /** This node's name: pods scheduled here are local, as are pods bound by the CNI plugin. */
  node: string;
  localRanges: IpRange[];
  /** Protocols the kernel can filter (SCTP only where the kernel has it). */
  supported: (p: Protocol) => boolean;
  memory: CompileMemory;
}

export function compile(input: CompileInput): PolicyState {
  const { model, node, memory } = input;
  const addresses = model.addressIndex();
  const localKeys = new Set<string>();
  for (const [key, pod] of model.pods) {
    if (pod.nodeName === node && !pod.hostNetwork && addresses.has(key)) localKeys.add(key);
  }
  for (const b of model.bindings().values()) localKeys.add(`${b.namespace}/${b.name}`);

  // Which policies select each local pod, and so which rules (and peers) are in force here.
  const selections = [...localKeys].sort().map((key) => ({
    key,
    ips: addresses.get(key) ?? [],
    ingress: selecting(model, key, "ingress"),
    egress: selecting(model, key, "egress"),
  }));
  const inForce = new Map<string, { policy: PolicyInfo; dir: Direction }>();
  for (const s of selections) {
    for (const dir of ["ingress", "egress"] as const) {
      for (const p of s[dir]?.policies ?? []) {
        inForce.set(`${dir} ${p.namespace}/${p.name}`, { policy: p, dir });
      }
    }
  }
  memory.matcherIds.begin();
  const matchers = new Map<number, Matcher>();
  const matcherOf = new Map<object, number>();
  const namedInUse = new Set<string>();
  const namedBlocks = new Set<number>();
  for (const { policy, dir } of inForce.values()) {
    for (const r of policy[dir]!) {
      const named = dir === "egress" && (r.ports ?? []).some((p) => p.kind === "named");
      for (const peer of r.peers ?? []) {
        if (peer.kind === "invalid") continue;
        const id = memory.matcherIds.id(matcherKey(peer))!;
        matchers.set(id, { id, peer });
        matcherOf.set(peer, id);
        if (named && peer.kind === "block") namedBlocks.add(id);
      }
      if (dir === "egress") {
        for (const spec of r.ports ?? []) {
          if (spec.kind === "named") namedInUse.add(namedKey(spec.name, spec.protocol));
        }
      }
    }
  }
  memory.matcherIds.end();
  const peers = classify({
    model,
    addresses,
    matchers,
    namedInUse,
    namedBlocks,
    classIds: memory.classIds,
  });

  const local: LocalPod[] = selections.map((s) => ({
    key: s.key,
    ips: s.ips,
    ingress: s.ingress && rulesFor(s.key, "ingress", s.ingress, model, peers, matcherOf, input),
    egress: s.egress && rulesFor(s.key, "egress", s.egress, model, peers, matcherOf, input),
  }));
  return { local, localRanges: input.localRanges, peers };
}

interface Selection {
  policies: PolicyInfo[];
  pending: boolean;
}

/** The policies selecting a local pod in one direction; null when none governs it. */
function selecting(model: ClusterModel, key: string, dir: Direction): Selection | null {
  const ns = key.slice(0, key.indexOf("/"));
  const pod = model.pods.get(key);
  const inNs = [...model.policiesByNamespace.get(ns) ?? []]
    .map((k) => model.policies.get(k)!)
    .filter((p) => p[dir] !== null);
  if (!pod) {
    // Labels unknown: any policy of the namespace might select it.
    return inNs.length > 0 ? { policies: [], pending: true } : null;
  }
  const policies = inNs.filter((p) => matches(p.podSelector, pod.labels))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  return policies.length > 0 ? { policies, pending: false } : null;
}

function rulesFor(
  key: string,
  dir: Direction,
  sel: Selection,
  model: ClusterModel,
  peers: Classification,
  matcherOf: Map<object, number>,
  input: CompileInput,
): DirectionRules {
  const out: DirectionRules = {
    policies: sel.policies.map((p) => `${p.namespace}/${p.name}`),
    openBy: [],
    pending: sel.pending,
    entries: [],
  };
  const localPorts = model.pods.get(key)?.ports;
  for (const policy of sel.policies) {
    const pkey = `${policy.namespace}/${policy.name}`;
    policy[dir]!.forEach((r, rule) => {
      const tag = { policy: pkey, rule };
      // The classes a rule's peers admit ("all" for a rule without peers).
      const classes: number[] | "all" = r.peers === null ? "all" : [
        ...new Set(
          r.peers.flatMap((p) =>
            p.kind === "invalid" ? [] : peers.classesOf.get(matcherOf.get(p)!) ?? []
          ),
        ),
      ];
      if (r.ports === null) {
        if (classes === "all") out.openBy.push(tag);
        else for (const c of classes) out.entries.push({ peer: c, ...tag });
        return;
      }
      for (const spec of r.ports) {
        if (dir === "egress" && spec.kind === "named") {
          // Resolved on each destination class; "every peer" means every class with the name.
          const k = namedKey(spec.name, spec.protocol);
          const candidates = classes === "all" ? [...peers.classes.keys()] : classes;
          for (const c of candidates) {
            for (const port of peers.classes.get(c)?.named.get(k) ?? []) {
              if (!input.supported(spec.protocol)) continue;
              out.entries.push({
                peer: c,
                range: { protocol: spec.protocol, lo: port, hi: port },
                ...tag,
              });
            }
          }
          continue;
        }
        for (const range of resolvePort(spec, localPorts, input.supported)) {
          if (classes === "all") out.entries.push({ peer: "all", range, ...tag });
          else for (const c of classes) out.entries.push({ peer: c, range, ...tag });
        }
      }
    });
  }
  return out;
}
