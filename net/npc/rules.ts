/**
 * A local pod's rules in one direction, from the policies that select it: the entries "peer class
 * (or any peer) × port range (or any traffic)" each rule allows, tagged with the rule. Pure over
 * the compiler's matchers and classes; the compiler (compile.ts) calls it and so does `explain`.
 */
import type { PeerClasses } from "./classes.ts";
import type { ClusterModel } from "./cluster.ts";
import type { DirectionRules } from "./local_rules.ts";
import { type Matcher, matcherKey, type MatcherTable } from "./membership.ts";
import { namedKey, resolvePort } from "./ports.ts";
import { matches } from "./selector.ts";
import type { Direction, PolicyInfo, Protocol } from "./types.ts";

/** The policies selecting a pod in one direction, or pending when its labels are not known. */
export interface Selection {
  policies: PolicyInfo[];
  pending: boolean;
}

/** What the rules are compiled against: the compiler's tables. */
export interface RuleContext {
  matchers: MatcherTable;
  classes: PeerClasses;
  supported: (p: Protocol) => boolean;
}

/** The policies selecting a local pod in one direction; null when none governs it. */
export function selecting(model: ClusterModel, key: string, dir: Direction): Selection | null {
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

export function directionRules(
  ctx: RuleContext,
  model: ClusterModel,
  key: string,
  dir: Direction,
  sel: Selection,
  deps: Set<number>,
): DirectionRules {
  const out: DirectionRules = {
    policies: sel.policies.map((p) => `${p.namespace}/${p.name}`),
    openBy: [],
    pending: sel.pending,
    entries: [],
  };
  const localPorts = model.pods.get(key)?.ports;
  const classesOf = (m: Matcher) => ctx.classes.classesOf.get(m.id) ?? [];
  for (const policy of sel.policies) {
    const pkey = `${policy.namespace}/${policy.name}`;
    policy[dir]!.forEach((r, rule) => {
      const tag = { policy: pkey, rule };
      // The classes a rule's peers admit ("all" for a rule without peers).
      let classes: number[] | "all" = "all";
      if (r.peers !== null) {
        const set = new Set<number>();
        for (const p of r.peers) {
          if (p.kind === "invalid") continue;
          const m = ctx.matchers.get(matcherKey(p))!;
          deps.add(m.id);
          for (const c of classesOf(m)) set.add(c);
        }
        classes = [...set];
      }
      if (r.ports === null) {
        if (classes === "all") out.openBy.push(tag);
        else for (const c of classes) out.entries.push({ peer: c, ...tag });
        return;
      }
      for (const spec of r.ports) {
        if (dir === "egress" && spec.kind === "named") {
          // Resolved on each destination class; "every peer": every class with the name.
          if (!ctx.supported(spec.protocol)) continue;
          const k = namedKey(spec.name, spec.protocol);
          const candidates = classes === "all" ? [...ctx.classes.classes.keys()] : classes;
          for (const c of candidates) {
            for (const port of ctx.classes.classes.get(c)?.named.get(k) ?? []) {
              out.entries.push({
                peer: c,
                range: { protocol: spec.protocol, lo: port, hi: port },
                ...tag,
              });
            }
          }
          continue;
        }
        for (const range of resolvePort(spec, localPorts, ctx.supported)) {
          if (classes === "all") out.entries.push({ peer: "all", range, ...tag });
          else for (const c of classes) out.entries.push({ peer: c, range, ...tag });
        }
      }
    });
  }
  return out;
}
