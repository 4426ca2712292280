/**
 * The peers of the rules in force on this node ("matchers": equal peers of different rules are
 * one), each with a small stable id and, for pod peers, the pods it selects — kept current
 * incrementally: a new matcher is evaluated against the pods once (narrowed by the label index),
 * and after that only the pods that changed (or whose namespace's labels changed) are evaluated
 * again. Pure: reads the cluster model, no I/O.
 */
import type { ClusterModel } from "./cluster.ts";
import { IdAllocator } from "./ids.ts";
import { isSelectAll, matches, requiredPairs, selectorKey } from "./selector.ts";
import type { Peer } from "./types.ts";

export type PodsPeer = Extract<Peer, { kind: "pods" }>;
export type BlockPeer = Extract<Peer, { kind: "block" }>;

export interface Matcher {
  id: number;
  key: string;
  peer: PodsPeer | BlockPeer;
}

interface PodsMatcher extends Matcher {
  peer: PodsPeer;
  members: Set<string>;
}

/** The canonical key of a peer: equal keys select the same addresses. */
export function matcherKey(peer: PodsPeer | BlockPeer): string {
  if (peer.kind === "block") {
    const ex = peer.except.map((e) => `${e.lo}-${e.hi}`).sort().join(",");
    return `b|${peer.cidr.lo}-${peer.cidr.hi}|${ex}`;
  }
  const ns = peer.namespaces === null ? `=${peer.policyNamespace}` : selectorKey(peer.namespaces);
  const pods = peer.pods === null ? "*" : selectorKey(peer.pods);
  return `p|${ns}|${pods}`;
}

export interface MembershipChange {
  added: Matcher[];
  removed: Matcher[];
  /** Pods whose set of pod matchers changed. */
  pods: Set<string>;
}

export class MatcherTable {
  readonly #byKey = new Map<string, Matcher>();
  readonly #ids = new IdAllocator(Number.MAX_SAFE_INTEGER);
  /**
   * Pod key → ids of the pod matchers that select it, ascending: an array of its exact size,
   * replaced on change (one per selected pod of the cluster; a Set of one costs 232 bytes, an
   * array grown by push or spread 184, an exact one 56).
   */
  readonly #ofPod = new Map<string, readonly number[]>();

  get(key: string): Matcher | undefined {
    return this.#byKey.get(key);
  }

  all(): IterableIterator<Matcher> {
    return this.#byKey.values();
  }

  /** Ids of the pod matchers selecting a pod, ascending. */
  podMatchers(key: string): number[] {
    return [...(this.#ofPod.get(key) ?? [])];
  }

  /**
   * Makes the table hold exactly `peers` (by key) and their members current, given the pods
   * and namespaces that changed since the last update.
   */
  update(
    model: ClusterModel,
    peers: Map<string, PodsPeer | BlockPeer>,
    changedPods: ReadonlySet<string>,
    changedNamespaces: ReadonlySet<string>,
    hasAddress: (key: string) => boolean,
  ): MembershipChange {
    const out: MembershipChange = { added: [], removed: [], pods: new Set() };
    const nsMemo = new Map<string, boolean>();
    const nsOk = (m: PodsMatcher, ns: string) => {
      if (m.peer.namespaces === null) return ns === m.peer.policyNamespace;
      const k = `${m.id}|${ns}`;
      let v = nsMemo.get(k);
      if (v === undefined) {
        v = matches(m.peer.namespaces, model.namespaceLabels(ns));
        nsMemo.set(k, v);
      }
      return v;
    };
    const selects = (m: PodsMatcher, key: string) => {
      const pod = model.pods.get(key);
      if (!pod || pod.hostNetwork || !hasAddress(key) || !nsOk(m, pod.namespace)) return false;
      return m.peer.pods === null || isSelectAll(m.peer.pods) || matches(m.peer.pods, pod.labels);
    };
    const join = (m: PodsMatcher, key: string) => {
      m.members.add(key);
      const ids = this.#ofPod.get(key) ?? [];
      if (!ids.includes(m.id)) this.#ofPod.set(key, ids.concat([m.id]).sort((a, b) => a - b));
      out.pods.add(key);
    };
    const leave = (m: PodsMatcher, key: string) => {
      m.members.delete(key);
      const ids = this.#ofPod.get(key)?.filter((id) => id !== m.id) ?? [];
      if (ids.length > 0) this.#ofPod.set(key, ids.slice());
      else this.#ofPod.delete(key);
      out.pods.add(key);
    };

    for (const [key, m] of this.#byKey) {
      if (peers.has(key)) continue;
      this.#byKey.delete(key);
      this.#ids.release(m.id);
      if (isPods(m)) { for (const p of [...m.members]) leave(m, p); }
      out.removed.push(m);
    }
    const affected = new Set(changedPods);
    for (const ns of changedNamespaces) {
      for (const key of model.podsByNamespace.get(ns) ?? []) affected.add(key);
    }
    if (affected.size > 0) {
      for (const m of this.#byKey.values()) {
        if (!isPods(m)) continue;
        for (const key of affected) {
          const now = selects(m, key);
          if (now !== m.members.has(key)) (now ? join : leave)(m, key);
        }
      }
    }
    for (const [key, peer] of peers) {
      if (this.#byKey.has(key)) continue;
      const m: Matcher = { id: this.#ids.take(), key, peer };
      this.#byKey.set(key, m);
      out.added.push(m);
      if (!isPods(m)) continue;
      (m as PodsMatcher).members = new Set();
      for (const pod of candidates(model, m.peer)) {
        if (selects(m as PodsMatcher, pod)) join(m as PodsMatcher, pod);
      }
    }
    this.#ids.settle();
    return out;
  }
}

function isPods(m: Matcher): m is PodsMatcher {
  return m.peer.kind === "pods";
}

/** A superset of the pods a pod peer selects, from the label index where it can narrow. */
function candidates(model: ClusterModel, peer: PodsPeer): Iterable<string> {
  if (peer.pods?.invalid || peer.namespaces?.invalid) return [];
  const pairs = peer.pods ? requiredPairs(peer.pods) : [];
  if (pairs.length > 0) {
    let best: ReadonlySet<string> | undefined;
    for (const [k, v] of pairs) {
      const s = model.withLabel(k, v);
      if (!best || s.size < best.size) best = s;
    }
    return best!;
  }
  if (peer.namespaces === null) return model.podsByNamespace.get(peer.policyNamespace) ?? [];
  return model.pods.keys();
}
