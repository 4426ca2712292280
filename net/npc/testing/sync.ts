/**
 * TEST AND BENCHMARK HELPER — makes a cluster model hold exactly a set of raw API objects, as the
 * watches would after seeing them: changed objects updated, missing ones deleted, others kept.
 */
import type { ClusterModel } from "../cluster.ts";
import {
  namespaceSchema,
  networkPolicySchema,
  podSchema,
  toNamespace,
  toPod,
  toPolicy,
} from "../objects.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

export interface RawObjects {
  namespaces: Obj[];
  pods: Obj[];
  policies: Obj[];
}

export function syncModel(m: ClusterModel, raw: RawObjects): void {
  const pods = raw.pods.map((p) => toPod(podSchema.parse(p)));
  const policies = raw.policies.map((p) => toPolicy(networkPolicySchema.parse(p)));
  const namespaces = raw.namespaces.map((n) => toNamespace(namespaceSchema.parse(n)));
  const keys = (xs: Array<{ namespace?: string; name: string }>) =>
    new Set(xs.map((x) => `${x.namespace ?? ""}/${x.name}`));
  const podKeys = keys(pods);
  const policyKeys = keys(policies);
  const nsNames = new Set(namespaces.map((n) => n.name));
  for (const k of [...m.pods.keys()]) if (!podKeys.has(k)) m.deletePod(k);
  for (const k of [...m.policies.keys()]) if (!policyKeys.has(k)) m.deletePolicy(k);
  for (const k of [...m.namespaces.keys()]) if (!nsNames.has(k)) m.deleteNamespace(k);
  for (const n of namespaces) m.upsertNamespace(n);
  for (const p of pods) m.upsertPod(p);
  for (const p of policies) m.upsertPolicy(p);
}
