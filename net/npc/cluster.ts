/**
 * The engine's picture of the cluster: pods, namespaces and policies as the API reports them,
 * plus the addresses the CNI plugin bound to pods on this node (known before the API reports
 * them), with the indexes the compile step needs (pods by namespace, by label, by address).
 * Pure data: no I/O, no clock.
 *
 * An address claimed by several pods resolves to the one the CNI plugin bound on this node, else
 * to the pod that claimed it last (a finished pod's address reused by a new one).
 */
import { type NamespaceInfo, objectKey, type PodInfo, type PolicyInfo } from "./types.ts";

/** A pod this node's CNI plugin attached, keyed by address. */
export interface Binding {
  namespace: string;
  name: string;
  containerId: string;
}

const pairKey = (k: string, v: string) => `${k}\u0000${v}`;

export class ClusterModel {
  readonly namespaces = new Map<string, NamespaceInfo>();
  readonly pods = new Map<string, PodInfo>();
  readonly policies = new Map<string, PolicyInfo>();
  /** Pod keys by namespace (every pod, also those without an address). */
  readonly podsByNamespace = new Map<string, Set<string>>();
  /** Policy keys by namespace. */
  readonly policiesByNamespace = new Map<string, Set<string>>();
  /** Pod keys by `label=value`. */
  readonly #postings = new Map<string, Set<string>>();
  /** Claimants of each address, oldest first. */
  readonly #claims = new Map<number, string[]>();
  readonly #bindings = new Map<number, Binding>();

  // --- pods ------------------------------------------------------------------------------------

  upsertPod(pod: PodInfo): void {
    const key = objectKey(pod);
    this.deletePod(key);
    this.pods.set(key, pod);
    addTo(this.podsByNamespace, pod.namespace, key);
    for (const [k, v] of Object.entries(pod.labels)) addTo(this.#postings, pairKey(k, v), key);
    if (!pod.hostNetwork) {
      for (const ip of pod.ips) {
        const list = this.#claims.get(ip) ?? [];
        list.push(key);
        this.#claims.set(ip, list);
      }
    }
  }

  deletePod(key: string): PodInfo | undefined {
    const pod = this.pods.get(key);
    if (!pod) return undefined;
    this.pods.delete(key);
    removeFrom(this.podsByNamespace, pod.namespace, key);
    for (const [k, v] of Object.entries(pod.labels)) removeFrom(this.#postings, pairKey(k, v), key);
    for (const ip of pod.ips) {
      const list = this.#claims.get(ip)?.filter((k) => k !== key) ?? [];
      if (list.length > 0) this.#claims.set(ip, list);
      else this.#claims.delete(ip);
    }
    return pod;
  }

  /** Keys of pods carrying `label=value`. */
  withLabel(k: string, v: string): ReadonlySet<string> {
    return this.#postings.get(pairKey(k, v)) ?? EMPTY;
  }

  // --- namespaces and policies -----------------------------------------------------------------

  upsertNamespace(ns: NamespaceInfo): void {
    this.namespaces.set(ns.name, ns);
  }

  deleteNamespace(name: string): void {
    this.namespaces.delete(name);
  }

  upsertPolicy(p: PolicyInfo): void {
    const key = objectKey(p);
    this.policies.set(key, p);
    addTo(this.policiesByNamespace, p.namespace, key);
  }

  deletePolicy(key: string): PolicyInfo | undefined {
    const p = this.policies.get(key);
    if (!p) return undefined;
    this.policies.delete(key);
    removeFrom(this.policiesByNamespace, p.namespace, key);
    return p;
  }

  /** Labels of a namespace; one not (yet) known has none. */
  namespaceLabels(name: string): Readonly<Record<string, string>> {
    return this.namespaces.get(name)?.labels ?? {};
  }

  // --- addresses -------------------------------------------------------------------------------

  /** Binds an address to a pod attached on this node (CNI ADD); it wins over API claims. */
  bind(ip: number, b: Binding): void {
    this.#bindings.set(ip, b);
  }

  /** Unbinds the addresses of a container (CNI DEL); returns them. */
  unbindContainer(containerId: string): number[] {
    const gone: number[] = [];
    for (const [ip, b] of this.#bindings) {
      if (b.containerId === containerId) {
        this.#bindings.delete(ip);
        gone.push(ip);
      }
    }
    return gone;
  }

  bindings(): ReadonlyMap<number, Binding> {
    return this.#bindings;
  }

  /** The key of the pod an address belongs to, if any. */
  podKeyAt(ip: number): string | undefined {
    const b = this.#bindings.get(ip);
    if (b) return objectKey(b);
    const list = this.#claims.get(ip);
    return list?.[list.length - 1];
  }

  /** The pod at an address, if the API reported it (hostNetwork pods are never found). */
  podAt(ip: number): PodInfo | undefined {
    const key = this.podKeyAt(ip);
    const pod = key === undefined ? undefined : this.pods.get(key);
    return pod && !pod.hostNetwork ? pod : undefined;
  }

  /**
   * Every pod key with the addresses that resolve to it (a lost claim excluded, bound addresses
   * included), in one pass.
   */
  addressIndex(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    const add = (key: string, ip: number) => {
      const list = out.get(key);
      if (!list) out.set(key, [ip]);
      else if (!list.includes(ip)) list.push(ip);
    };
    for (const ip of this.#claims.keys()) {
      if (!this.#bindings.has(ip)) add(this.podKeyAt(ip)!, ip);
    }
    for (const [ip, b] of this.#bindings) add(objectKey(b), ip);
    return out;
  }
}

const EMPTY: ReadonlySet<string> = new Set();

function addTo(m: Map<string, Set<string>>, k: string, v: string): void {
  const s = m.get(k);
  if (s) s.add(v);
  else m.set(k, new Set([v]));
}

function removeFrom(m: Map<string, Set<string>>, k: string, v: string): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}
