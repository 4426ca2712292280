/**
 * What `weavets status` and `weavets status npc` show of the policy controller, pure: from the
 * engine's compiled state and the controller's counters to a status section and a report.
 */
import type { StatusSection } from "../daemon/component.ts";
import type { ClusterModel } from "./cluster.ts";
import type { PolicyState } from "./compile.ts";
import type { Elements } from "./elements.ts";

export interface NpcCounters {
  /** Null until the first list of pods, namespaces and policies has been loaded. */
  syncedAt: number | null;
  waitingFor: string[];
  lastApplyMs: number;
  /** The last load of the whole table (compile included). */
  fullLoadMs: number;
  lastChangeElements: number;
  applies: number;
  errors: number;
  blocked: Record<string, number>;
  /** Event-to-kernel delays of recent changes, ms. */
  latencies: number[];
}

export interface PolicyInForce {
  policy: string;
  ingress: string[];
  egress: string[];
}

export interface NpcReport {
  status: string;
  policies: number;
  policiesInForce: PolicyInForce[];
  localPods: number;
  policed: { ingress: number; egress: number };
  pending: string[];
  peerClasses: number;
  setElements: Record<string, number>;
  lastApplyMs: number;
  fullLoadMs: number;
  changeToKernelMs: { p50: number; p99: number; max: number; samples: number };
  applies: number;
  errors: number;
  blocked: Record<string, number>;
}

export function npcReport(
  model: ClusterModel,
  state: PolicyState | undefined,
  elements: Elements | undefined,
  c: NpcCounters,
  now: number,
): NpcReport {
  const inForce = new Map<string, PolicyInForce>();
  const pending: string[] = [];
  for (const pod of state?.local ?? []) {
    for (const dir of ["ingress", "egress"] as const) {
      const rules = pod[dir];
      if (rules?.pending && !pending.includes(pod.key)) pending.push(pod.key);
      for (const p of rules?.policies ?? []) {
        const e = inForce.get(p) ?? { policy: p, ingress: [], egress: [] };
        e[dir].push(pod.key);
        inForce.set(p, e);
      }
    }
  }
  const sorted = [...(c.latencies)].sort((a, b) => a - b);
  const pct = (q: number) =>
    sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return {
    status: c.syncedAt === null
      ? `waiting for the first list of ${c.waitingFor.join(", ")}`
      : `enforcing (synced ${Math.round((now - c.syncedAt) / 1000)} s ago)`,
    policies: model.policies.size,
    policiesInForce: [...inForce.values()].sort((a, b) => (a.policy < b.policy ? -1 : 1)),
    localPods: state?.local.length ?? 0,
    policed: {
      ingress: state?.local.filter((p) => p.ingress).length ?? 0,
      egress: state?.local.filter((p) => p.egress).length ?? 0,
    },
    pending,
    peerClasses: state?.peers.classes.size ?? 0,
    setElements: Object.fromEntries(
      [...(elements ?? [])].filter(([, s]) => s.size > 0).map(([k, s]) => [k, s.size]),
    ),
    lastApplyMs: c.lastApplyMs,
    fullLoadMs: c.fullLoadMs,
    changeToKernelMs: {
      p50: pct(0.5),
      p99: pct(0.99),
      max: sorted[sorted.length - 1] ?? 0,
      samples: sorted.length,
    },
    applies: c.applies,
    errors: c.errors,
    blocked: c.blocked,
  };
}

export function npcSection(r: NpcReport): StatusSection {
  const total = Object.values(r.setElements).reduce((a, b) => a + b, 0);
  return {
    service: "npc",
    fields: [
      ["Status", r.status],
      ["Policies", `${r.policies} (${r.policiesInForce.length} selecting pods of this node)`],
      [
        "Pods",
        `${r.localPods} on this node, ${r.policed.ingress} policed for ingress, ` +
        `${r.policed.egress} for egress${r.pending.length ? `, ${r.pending.length} pending` : ""}`,
      ],
      [
        "Kernel",
        `${total} set elements, ${r.peerClasses} peer classes, last change ${r.lastApplyMs} ms, ` +
        `last full load ${r.fullLoadMs} ms`,
      ],
      [
        "Blocked",
        Object.entries(r.blocked).map(([k, v]) => `${v} ${k}`).join(", ") || "none",
      ],
      ["Errors", String(r.errors)],
    ],
  };
}

/** `weavets status npc`: the summary, each policy in force with its pods, the set sizes. */
export function formatNpc(r: NpcReport): string {
  const out = [`Service: npc`];
  for (const [k, v] of npcSection(r).fields) out.push(`${k.padStart(12)}: ${v}`);
  out.push(
    `${"Latency".padStart(12)}: change to kernel p50 ${r.changeToKernelMs.p50} ms, ` +
      `p99 ${r.changeToKernelMs.p99} ms (${r.changeToKernelMs.samples} changes)`,
    "",
    "Policies in force on this node (pods they select here):",
  );
  if (r.policiesInForce.length === 0) out.push("  none");
  for (const p of r.policiesInForce) {
    for (const dir of ["ingress", "egress"] as const) {
      if (p[dir].length === 0) continue;
      out.push(`  ${p.policy.padEnd(40)} ${dir.padEnd(8)} ${p[dir].join(" ")}`);
    }
  }
  if (r.pending.length > 0) {
    out.push("", `Pods closed until the API reports them: ${r.pending.join(" ")}`);
  }
  out.push("", "Set elements:");
  for (const [k, v] of Object.entries(r.setElements)) out.push(`  ${k.padEnd(16)} ${v}`);
  return out.join("\n");
}
