/**
 * The engine's picture of the cluster: pods, namespaces and policies as the API reports them,
 * plus the addresses the CNI plugin bound to pods on this node (known before the API reports
 * them), with the indexes the compile step needs (pods by namespace, by label, by address) and
 * what changed since the compile step last looked (takeChanges). Pure data: no I/O, no clock.
 *
 * An address claimed by several pods resolves to the one the CNI plugin bound on this node, else
 * to the pod that claimed it last (a finished pod's address reused by a new one). An update that
 * changes nothing the engine reads (a pod's status conditions, say) is not a change.
 */
import {
  type Labels,
  type NamespaceInfo,
  objectKey,
  type PodInfo,
  type PolicyInfo,
} from "./types.ts";

/** A pod this node's CNI plugin attached, keyed by address. */
export interface Binding {
  namespace: string;
  name: string;
  containerId: string;
}

/** What changed since the last takeChanges(): keys of pods, names of namespaces, policy keys. */
export interface Changes {
  pods: Set<string>;
  namespaces: Set<string>;
  policies: Set<string>;
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
  /** Bound addresses by pod key. */
  readonly #boundTo = new Map<string, Set<number>>();
  #changes: Changes = { pods: new Set(), namespaces: new Set(), policies: new Set() };

  /** What changed since the last call (and forgets it). */
  takeChanges(): Changes {
    const c = this.#changes;
    this.#changes = { pods: new Set(), namespaces: new Set(), policies: new Set() };
    return c;
  }

  // --- pods ------------------------------------------------------------------------------------

  /** Adds or replaces a pod; false when nothing the engine reads changed. */
  upsertPod(pod: PodInfo): boolean {
    const key = objectKey(pod);
    const old = this.pods.get(key);
    if (old && samePod(old, pod)) return false;
    this.#removePod(key);
    this.pods.set(key, pod);
    addTo(this.podsByNamespace, pod.namespace, key);
    for (const [k, v] of Object.entries(pod.labels)) addTo(this.#postings, pairKey(k, v), key);
    if (!pod.hostNetwork) {
      for (const ip of pod.ips) {
        const list = this.#claims.get(ip) ?? [];
        this.#touch(list);
        // A new array of the exact size, one per address of the cluster (push and spread
        // reserve room for 17: 184 bytes against 56).
        this.#claims.set(ip, list.concat([key]));
      }
    }
    this.#changes.pods.add(key);
    return true;
  }

  deletePod(key: string): boolean {
    if (!this.#removePod(key)) return false;
    this.#changes.pods.add(key);
    return true;
  }

  #removePod(key: string): PodInfo | undefined {
    const pod = this.pods.get(key);
    if (!pod) return undefined;
    this.pods.delete(key);
    removeFrom(this.podsByNamespace, pod.namespace, key);
    for (const [k, v] of Object.entries(pod.labels)) removeFrom(this.#postings, pairKey(k, v), key);
    for (const ip of pod.ips) {
      const list = this.#claims.get(ip)?.filter((k) => k !== key).slice() ?? [];
      this.#touch(list);
      if (list.length > 0) this.#claims.set(ip, list);
      else this.#claims.delete(ip);
    }
    return pod;
  }

  /** The other claimants of an address: which one it resolves to may change. */
  #touch(keys: string[]): void {
    for (const k of keys) this.#changes.pods.add(k);
  }

  /** Keys of pods carrying `label=value`. */
  withLabel(k: string, v: string): ReadonlySet<string> {
    return this.#postings.get(pairKey(k, v)) ?? EMPTY;
  }

  // --- namespaces and policies -----------------------------------------------------------------

  upsertNamespace(ns: NamespaceInfo): boolean {
    const old = this.namespaces.get(ns.name);
    if (old && sameLabels(old.labels, ns.labels)) return false;
    this.namespaces.set(ns.name, ns);
    this.#changes.namespaces.add(ns.name);
    return true;
  }

  deleteNamespace(name: string): boolean {
    if (!this.namespaces.delete(name)) return false;
    this.#changes.namespaces.add(name);
    return true;
  }

  upsertPolicy(p: PolicyInfo): boolean {
    const key = objectKey(p);
    const old = this.policies.get(key);
    if (old && JSON.stringify(old) === JSON.stringify(p)) return false;
    this.policies.set(key, p);
    addTo(this.policiesByNamespace, p.namespace, key);
    this.#changes.policies.add(key);
    return true;
  }

  deletePolicy(key: string): boolean {
    const p = this.policies.get(key);
    if (!p) return false;
    this.policies.delete(key);
    removeFrom(this.policiesByNamespace, p.namespace, key);
    this.#changes.policies.add(key);
    return true;
  }

  /** Labels of a namespace; one not (yet) known has none. */
  namespaceLabels(name: string): Labels {
    return this.namespaces.get(name)?.labels ?? {};
  }

  // --- addresses -------------------------------------------------------------------------------

  /** Binds an address to a pod attached on this node (CNI ADD); it wins over API claims. */
  bind(ip: number, b: Binding): void {
    const old = this.#bindings.get(ip);
    if (old) this.#unbind(ip, old);
    this.#bindings.set(ip, b);
    const key = objectKey(b);
    const set = this.#boundTo.get(key) ?? new Set<number>();
    set.add(ip);
    this.#boundTo.set(key, set);
    this.#changes.pods.add(key);
    this.#touch(this.#claims.get(ip) ?? []);
  }

  /** Unbinds the addresses of a container (CNI DEL); returns them. */
  unbindContainer(containerId: string): number[] {
    const gone: number[] = [];
    for (const [ip, b] of this.#bindings) {
      if (b.containerId === containerId) {
        this.#unbind(ip, b);
        this.#touch(this.#claims.get(ip) ?? []);
        gone.push(ip);
      }
    }
    return gone;
  }

  #unbind(ip: number, b: Binding): void {
    this.#bindings.delete(ip);
    const key = objectKey(b);
    const set = this.#boundTo.get(key);
    set?.delete(ip);
    if (set?.size === 0) this.#boundTo.delete(key);
    this.#changes.pods.add(key);
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

  /** The addresses that resolve to a pod (a lost claim excluded, bound addresses included). */
  addressesOf(key: string): number[] {
    const out: number[] = [];
    const pod = this.pods.get(key);
    if (pod && !pod.hostNetwork) {
      for (const ip of pod.ips) if (this.podKeyAt(ip) === key) out.push(ip);
    }
    for (const ip of this.#boundTo.get(key) ?? []) if (!out.includes(ip)) out.push(ip);
    return out.slice(); // the exact size: the compiler keeps it for every pod with an address
  }

  /**
   * Whether a pod holds an address (cheap: a claim another pod won still counts, which only
   * costs a class no address uses).
   */
  hasAddress(key: string): boolean {
    const pod = this.pods.get(key);
    return (!!pod && !pod.hostNetwork && pod.ips.length > 0) || this.#boundTo.has(key);
  }

  /** Keys of the pods bound by the CNI plugin. */
  boundPods(): ReadonlySet<string> {
    return new Set(this.#boundTo.keys());
  }

  isBound(key: string): boolean {
    return this.#boundTo.has(key);
  }
}

function samePod(a: PodInfo, b: PodInfo): boolean {
  return a.hostNetwork === b.hostNetwork && a.nodeName === b.nodeName &&
    a.ips.length === b.ips.length && a.ips.every((ip, i) => ip === b.ips[i]) &&
    sameLabels(a.labels, b.labels) && JSON.stringify(a.ports) === JSON.stringify(b.ports);
}

function sameLabels(a: Labels, b: Labels): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
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
