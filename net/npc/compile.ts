/**
 * The compile step, pure and incremental: from the cluster model to what this node enforces. For
 * each pod on the node and each direction some policy selects it for, the entries "peer class (or
 * any peer) × port range (or any traffic)" that its policies allow, each tagged with the policy
 * rule it came from; the peer classes those entries refer to (classes.ts); and the nftables set
 * elements of it all (elements.ts). verdict.ts evaluates the elements exactly as the kernel rules
 * do.
 *
 * A commit looks only at what changed since the last one (ClusterModel.takeChanges): the pods of
 * this node whose selection or rules' classes changed are compiled again, the addresses whose
 * class changed get new class bits, and the result is the element difference to apply. The first
 * commit (or "all") compiles everything.
 *
 * Semantics (networking.k8s.io/v1): a pod selected by no policy of a direction is open in that
 * direction; otherwise traffic passes when some rule of some selecting policy matches both the
 * peer and the port. Named ports are resolved on the destination: for ingress on the local pod,
 * for egress on each peer class. A pod the CNI plugin bound before the API reported it is closed
 * in each direction some policy of its namespace governs, until its labels are known.
 */
import { PeerClasses } from "./classes.ts";
import type { Changes, ClusterModel } from "./cluster.ts";
import {
  classElements,
  ElementChanges,
  type ElementDiff,
  type Elements,
  emptyElements,
  type Fragment,
  fragmentPairs,
  localPodElements,
  rangeElements,
  segmentElements,
  toFragment,
} from "./elements.ts";
import {
  type BlockPeer,
  type Matcher,
  matcherKey,
  MatcherTable,
  type PodsPeer,
} from "./membership.ts";
import type {
  DirectionRules,
  DirectionSummary,
  Entry,
  LocalPod,
  LocalRules,
} from "./local_rules.ts";
import { namedKey } from "./ports.ts";
import { directionRules, type RuleContext, selecting, type Selection } from "./rules.ts";
import type { Direction, IpRange, PodInfo, PolicyInfo, Protocol } from "./types.ts";

export type { DirectionRules, DirectionSummary, Entry, LocalPod, LocalRules };

export interface PolicyState {
  local: LocalPod[];
  /** This node's pod address ranges (IPAM): an address there bound to no pod is closed. */
  localRanges: IpRange[];
  peers: PeerClasses;
}

export interface CompilerOptions {
  /** This node's name: pods scheduled here are local, as are pods bound by the CNI plugin. */
  node: string;
  /** Protocols the kernel can filter (SCTP only where the kernel has it). */
  supported: (p: Protocol) => boolean;
}

export interface CommitResult {
  state: PolicyState;
  /** Everything the kernel should hold now. */
  elements: Elements;
  /** What changed in `elements` with this commit. */
  diff: ElementDiff;
}

interface Local {
  pod: LocalPod;
  ingress: Selection | null;
  egress: Selection | null;
  elements: Fragment;
  /** Matchers its rules name. */
  deps: Set<number>;
  /** Has egress rules with named ports (they follow every class with named ports). */
  named: boolean;
}

export class Compiler {
  readonly #o: CompilerOptions;
  readonly #matchers = new MatcherTable();
  readonly #classes = new PeerClasses();
  readonly #local = new Map<string, Local>();
  /** Matcher id → local pods whose rules name it. */
  readonly #dependents = new Map<number, Set<string>>();
  /** Pod key → its addresses with a pod class. */
  readonly #addresses = new Map<string, number[]>();
  readonly #elements = emptyElements();
  #localRanges: IpRange[] = [];
  #named = "";
  #blocks = "";
  #first = true;

  readonly #ruleContext: RuleContext;

  constructor(o: CompilerOptions) {
    this.#o = o;
    this.#ruleContext = {
      matchers: this.#matchers,
      classes: this.#classes,
      supported: o.supported,
    };
  }

  get supported(): (p: Protocol) => boolean {
    return this.#o.supported;
  }

  get state(): PolicyState {
    return {
      local: [...this.#local.values()].map((l) => l.pod),
      localRanges: this.#localRanges,
      peers: this.#classes,
    };
  }

  get elements(): Elements {
    return this.#elements;
  }

  commit(model: ClusterModel, changes: Changes, localRanges: IpRange[]): CommitResult {
    const out = new ElementChanges();
    if (this.#first) {
      changes = {
        pods: new Set([...model.pods.keys(), ...model.boundPods()]),
        namespaces: new Set(model.namespaces.keys()),
        policies: new Set(model.policies.keys()),
      };
    }
    if (this.#first || !sameRanges(localRanges, this.#localRanges)) {
      out.replace(rangeElements(this.#localRanges), rangeElements(localRanges));
      this.#localRanges = localRanges;
    }

    // 1. Which pods are local, and which of them to select policies for again.
    const policyNs = new Set([...changes.policies].map((k) => k.slice(0, k.indexOf("/"))));
    const reselect = new Set<string>();
    for (const key of changes.pods) reselect.add(key);
    for (const ns of policyNs) {
      for (const key of this.#local.keys()) if (key.startsWith(`${ns}/`)) reselect.add(key);
    }
    const selections = new Map<string, { ingress: Selection | null; egress: Selection | null }>();
    for (const key of reselect) {
      if (!this.#isLocal(model, key)) continue;
      selections.set(key, {
        ingress: selecting(model, key, "ingress"),
        egress: selecting(model, key, "egress"),
      });
    }

    // 2. The peers of the rules in force, and the named ports egress rules resolve.
    const inForce = new Map<string, { policy: PolicyInfo; dir: Direction }>();
    for (const [key, l] of this.#local) {
      if (reselect.has(key)) continue;
      for (const dir of ["ingress", "egress"] as const) {
        for (const p of l[dir]?.policies ?? []) {
          // A changed policy is read anew from the model (it may be gone).
          const now = model.policies.get(`${p.namespace}/${p.name}`);
          if (now?.[dir]) inForce.set(`${dir} ${p.namespace}/${p.name}`, { policy: now, dir });
        }
      }
    }
    for (const s of selections.values()) {
      for (const dir of ["ingress", "egress"] as const) {
        for (const p of s[dir]?.policies ?? []) {
          inForce.set(`${dir} ${p.namespace}/${p.name}`, { policy: p, dir });
        }
      }
    }
    const peers = new Map<string, PodsPeer | BlockPeer>();
    const namedInUse = new Set<string>();
    const namedBlocks = new Set<string>();
    for (const { policy, dir } of inForce.values()) {
      for (const r of policy[dir]!) {
        const named = dir === "egress" && (r.ports ?? []).some((p) => p.kind === "named");
        for (const peer of r.peers ?? []) {
          if (peer.kind === "invalid") continue;
          const k = matcherKey(peer);
          peers.set(k, peer);
          if (named && peer.kind === "block") namedBlocks.add(k);
        }
        for (const spec of r.ports ?? []) {
          if (dir === "egress" && spec.kind === "named") {
            namedInUse.add(namedKey(spec.name, spec.protocol));
          }
        }
      }
    }

    // 3. Members of the peers, then classes of the addresses whose membership changed.
    const membership = this.#matchers.update(
      model,
      peers,
      changes.pods,
      changes.namespaces,
      (key) => model.hasAddress(key),
    );
    const named = `${[...namedInUse].sort()}|${[...namedBlocks].sort()}`;
    const blockMatchers = [...this.#matchers.all()].filter((m) => m.peer.kind === "block");
    const blocks = blockMatchers.map((m) => m.id).sort((a, b) => a - b).join(",");
    const recolour = new Set([...changes.pods, ...membership.pods]);
    if (named !== this.#named || (namedBlocks.size > 0 && blocks !== this.#blocks)) {
      for (const key of [...model.pods.keys(), ...this.#addresses.keys()]) recolour.add(key);
    }
    if (blocks !== this.#blocks) this.#classes.setBlocks(blockMatchers);
    this.#named = named;
    this.#blocks = blocks;
    const foldIn = blockMatchers.filter((m) => namedBlocks.has(m.key));
    for (const key of recolour) this.#colour(model, key, namedInUse, foldIn);
    const delta = this.#classes.takeDelta();

    // 4. Local pods whose rules' classes changed are compiled again; all of it becomes elements.
    const changedMatchers = new Set(delta.matchers);
    for (const m of [...membership.added, ...membership.removed]) changedMatchers.add(m.id);
    const recompile = new Set(selections.keys());
    for (const m of changedMatchers) {
      for (const key of this.#dependents.get(m) ?? []) recompile.add(key);
    }
    if (delta.named) { for (const [key, l] of this.#local) if (l.named) recompile.add(key); }
    for (const key of reselect) {
      if (!selections.has(key) && this.#local.has(key)) this.#drop(key, out);
    }
    for (const key of recompile) {
      const l = this.#local.get(key);
      const sel = selections.get(key) ?? (l && { ingress: l.ingress, egress: l.egress });
      if (sel) this.#compileLocal(model, key, sel, out);
    }
    for (const [ip, c] of delta.addresses) {
      out.replace(classElements(ip, c.before), classElements(ip, c.after));
    }
    if (delta.segmentsBefore) {
      out.replace(segmentElements(delta.segmentsBefore), segmentElements(this.#classes.segments));
    }
    this.#first = false;
    return { state: this.state, elements: this.#elements, diff: out.settle(this.#elements) };
  }

  #isLocal(model: ClusterModel, key: string): boolean {
    if (model.isBound(key)) return true;
    const pod = model.pods.get(key);
    return !!pod && pod.nodeName === this.#o.node && !pod.hostNetwork &&
      model.addressesOf(key).length > 0;
  }

  /** Gives every address of a pod its class (and takes them from addresses it no longer holds). */
  #colour(model: ClusterModel, key: string, namedInUse: Set<string>, foldIn: Matcher[]): void {
    const pod = model.pods.get(key);
    const ips = pod && !pod.hostNetwork ? model.addressesOf(key) : [];
    for (const ip of this.#addresses.get(key) ?? []) {
      if (!ips.includes(ip)) this.#classes.removeAddress(ip);
    }
    if (ips.length === 0) {
      this.#addresses.delete(key);
      return;
    }
    this.#addresses.set(key, ips);
    const ids = this.#matchers.podMatchers(key);
    const namedPorts = namedPortsOf(pod!, namedInUse);
    for (const ip of ips) {
      const blocks = foldIn.length === 0 ? [] : this.#classes.blocksAt(ip, foldIn);
      const all = blocks.length === 0
        ? ids
        : [...new Set([...ids, ...blocks])].sort((a, b) => a - b);
      this.#classes.setAddress(ip, all, namedPorts);
    }
  }

  #drop(key: string, out: ElementChanges): void {
    const l = this.#local.get(key)!;
    out.replace(fragmentPairs(l.elements), []);
    for (const m of l.deps) this.#dependents.get(m)?.delete(key);
    this.#local.delete(key);
  }

  #compileLocal(
    model: ClusterModel,
    key: string,
    sel: { ingress: Selection | null; egress: Selection | null },
    out: ElementChanges,
  ): void {
    const old = this.#local.get(key);
    const deps = new Set<number>();
    const rules = this.#rulesOf(model, key, sel, deps);
    const named = !!sel.egress?.policies.some((p) =>
      p.egress!.some((r) => (r.ports ?? []).some((s) => s.kind === "named"))
    );
    const elements = toFragment(localPodElements(rules));
    out.replace(fragmentPairs(old?.elements), fragmentPairs(elements));
    for (const m of old?.deps ?? []) this.#dependents.get(m)?.delete(key);
    for (const m of deps) {
      const s = this.#dependents.get(m) ?? new Set<string>();
      s.add(key);
      this.#dependents.set(m, s);
    }
    const pod: LocalPod = {
      key,
      ips: rules.ips,
      ingress: summary(rules.ingress),
      egress: summary(rules.egress),
    };
    this.#local.set(key, { pod, ...sel, elements, deps, named });
  }

  /** A local pod's rules with their entries, as the last commit compiled them. */
  explain(model: ClusterModel, key: string): LocalRules | undefined {
    const l = this.#local.get(key);
    return l && this.#rulesOf(model, key, l, new Set());
  }

  #rulesOf(
    model: ClusterModel,
    key: string,
    sel: { ingress: Selection | null; egress: Selection | null },
    deps: Set<number>,
  ): LocalRules {
    return {
      key,
      ips: model.addressesOf(key),
      ingress: sel.ingress &&
        directionRules(this.#ruleContext, model, key, "ingress", sel.ingress, deps),
      egress: sel.egress &&
        directionRules(this.#ruleContext, model, key, "egress", sel.egress, deps),
    };
  }
}

/** Compiles a model from scratch (the first commit of a new Compiler; the model's changes stay). */
export function compile(
  model: ClusterModel,
  o: CompilerOptions,
  localRanges: IpRange[] = [],
): CommitResult {
  const none = {
    pods: new Set<string>(),
    namespaces: new Set<string>(),
    policies: new Set<string>(),
  };
  return new Compiler(o).commit(model, none, localRanges);
}

function namedPortsOf(pod: PodInfo, inUse: ReadonlySet<string>): Map<string, number[]> {
  const out = new Map<string, number[]>();
  if (inUse.size === 0) return out;
  for (const p of pod.ports) {
    const k = namedKey(p.name, p.protocol);
    if (!inUse.has(k)) continue;
    const list = out.get(k);
    if (!list) out.set(k, [p.port]);
    else if (!list.includes(p.port)) list.push(p.port);
  }
  for (const list of out.values()) list.sort((a, b) => a - b);
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

function summary(r: DirectionRules | null): DirectionSummary | null {
  if (!r) return null;
  const { entries: _, ...rest } = r;
  return rest;
}

function sameRanges(a: IpRange[], b: IpRange[]): boolean {
  return a.length === b.length && a.every((r, i) => r.lo === b[i].lo && r.hi === b[i].hi);
}
