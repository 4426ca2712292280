/**
 * Feeds the engine's cluster model from the API: Namespaces, Pods of every node and
 * NetworkPolicies, each listed and watched (net/kube/watch.ts). Says when each collection has
 * been listed once, and reports objects of unexpected shape and policy parts the API server
 * should have refused (those allow nothing), and SCTP ports where the kernel has no SCTP (they
 * allow nothing either); each said once per policy until it changes.
 */
import type { KubeClient } from "../kube/client.ts";
import { type CollectionHandler, listWatch } from "../kube/watch.ts";
import type { Logger } from "../log.ts";
import type { ClusterModel } from "./cluster.ts";
import {
  type NamespaceObject,
  namespaceSchema,
  type NetworkPolicyObject,
  networkPolicySchema,
  type PodObject,
  podSchema,
  toNamespace,
  toPod,
  toPolicy,
} from "./objects.ts";
import { objectKey, type PolicyInfo } from "./types.ts";

export const COLLECTIONS = ["namespaces", "pods", "networkpolicies"] as const;
export type CollectionName = (typeof COLLECTIONS)[number];

export interface WatchClusterOptions {
  client: KubeClient;
  log: Logger;
  signal: AbortSignal;
  model: ClusterModel;
  /** The model changed. */
  changed(): void;
  /** A collection was listed (again). */
  synced(name: CollectionName): void;
  error(reason: string, message: string, fields: Record<string, unknown>): void;
  /** Whether the kernel has SCTP (if not, policies with SCTP ports are pointed out). */
  sctp: boolean;
}

export function watchCluster(o: WatchClusterOptions): void {
  const m = o.model;
  const common = { client: o.client, log: o.log, signal: o.signal };
  /** Policy key → what was last reported about it (reported again only when that changes). */
  const reported = new Map<string, string>();
  listWatch({
    ...common,
    path: "/api/v1/namespaces",
    schema: namespaceSchema,
    handler: handler<NamespaceObject>(o, "namespaces", {
      upsert: (ns) => m.upsertNamespace(toNamespace(ns)),
      remove: (ns) => m.deleteNamespace(ns.metadata.name),
      clear: () => [...m.namespaces.keys()].forEach((k) => m.deleteNamespace(k)),
    }),
  });
  listWatch({
    ...common,
    path: "/api/v1/pods",
    schema: podSchema,
    handler: handler<PodObject>(o, "pods", {
      upsert: (p) => m.upsertPod(toPod(p)),
      remove: (p) => m.deletePod(`${p.metadata.namespace}/${p.metadata.name}`),
      clear: () => [...m.pods.keys()].forEach((k) => m.deletePod(k)),
    }),
  });
  listWatch({
    ...common,
    path: "/apis/networking.k8s.io/v1/networkpolicies",
    schema: networkPolicySchema,
    handler: handler<NetworkPolicyObject>(o, "networkpolicies", {
      upsert: (obj) => {
        const p = toPolicy(obj);
        const key = objectKey(p);
        const sctp = o.sctp ? [] : sctpParts(p);
        const said = JSON.stringify([p.problems, sctp]);
        if (reported.get(key) !== said) {
          if (p.problems.length > 0) {
            o.error(
              "invalid_policy",
              "NetworkPolicy parts the API should have refused allow nothing",
              {
                policy: key,
                problems: p.problems.slice(0, 10),
              },
            );
          }
          if (sctp.length > 0) {
            o.log.warn(
              "this kernel has no SCTP: the SCTP ports of this NetworkPolicy allow nothing",
              {
                policy: key,
                ports: sctp.slice(0, 10),
              },
            );
          }
          reported.set(key, said);
        }
        m.upsertPolicy(p);
      },
      remove: (p) => {
        const key = `${p.metadata.namespace}/${p.metadata.name}`;
        reported.delete(key);
        m.deletePolicy(key);
      },
      clear: () => [...m.policies.keys()].forEach((k) => m.deletePolicy(k)),
    }),
  });
}

/** Where a policy names SCTP ports ("ingress[0].ports[1]"). */
function sctpParts(p: PolicyInfo): string[] {
  const out: string[] = [];
  for (const dir of ["ingress", "egress"] as const) {
    p[dir]?.forEach((r, i) =>
      r.ports?.forEach((spec, j) => {
        if (spec.kind !== "invalid" && spec.protocol === "SCTP") {
          out.push(`${dir}[${i}].ports[${j}]`);
        }
      })
    );
  }
  return out;
}

function handler<T>(
  o: WatchClusterOptions,
  name: CollectionName,
  fns: { upsert(x: T): void; remove(x: T): void; clear(): void },
): CollectionHandler<T> {
  return {
    replace(items) {
      fns.clear();
      for (const x of items) fns.upsert(x);
      o.synced(name);
      o.changed();
    },
    upsert(x) {
      fns.upsert(x);
      o.changed();
    },
    remove(x) {
      fns.remove(x);
      o.changed();
    },
    invalid(count, why) {
      o.error("invalid_object", "Kubernetes objects of unexpected shape skipped", {
        collection: name,
        count,
        why,
      });
    },
  };
}
