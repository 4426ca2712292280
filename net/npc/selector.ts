/**
 * Kubernetes label selectors (metav1.LabelSelector), pure: normalising one from the API shape,
 * matching labels, and a canonical key so equal selectors are recognised as one.
 * Semantics as apimachinery's: matchLabels and every requirement must all hold; `NotIn` and
 * `DoesNotExist` hold for a label that is absent; an empty selector selects everything.
 */
import type { Labels, Requirement, Selector } from "./types.ts";

export interface RawSelector {
  matchLabels?: Record<string, string> | null;
  matchExpressions?:
    | Array<{ key: string; operator: string; values?: string[] | null }>
    | null;
}

const OPERATORS = new Set(["In", "NotIn", "Exists", "DoesNotExist"]);

/** The everything-selector `{}`. */
export const SELECT_ALL: Selector = Object.freeze({ matchLabels: {}, requirements: [] });

/** Normalises an API selector; one the API server would refuse comes back with `invalid`. */
export function parseSelector(raw: RawSelector | null | undefined): Selector {
  const matchLabels: Record<string, string> = { ...(raw?.matchLabels ?? {}) };
  const requirements: Requirement[] = [];
  let invalid: string | undefined;
  for (const e of raw?.matchExpressions ?? []) {
    const values = [...new Set(e.values ?? [])].sort().slice();
    if (!OPERATORS.has(e.operator)) {
      invalid ??= `unknown selector operator "${e.operator}"`;
      continue;
    }
    const op = e.operator as Requirement["operator"];
    if ((op === "In" || op === "NotIn") && values.length === 0) {
      invalid ??= `selector operator ${op} on "${e.key}" needs values`;
    } else if ((op === "Exists" || op === "DoesNotExist") && values.length > 0) {
      invalid ??= `selector operator ${op} on "${e.key}" takes no values`;
    }
    requirements.push({ key: e.key, operator: op, values });
  }
  requirements.sort((a, b) => selectorKeyOfRequirement(a) < selectorKeyOfRequirement(b) ? -1 : 1);
  // Exact-size (a pushed array keeps room for 17): every selector of every policy is kept.
  const reqs = requirements.slice();
  return invalid
    ? { matchLabels, requirements: reqs, invalid }
    : { matchLabels, requirements: reqs };
}

function selectorKeyOfRequirement(r: Requirement): string {
  return JSON.stringify([r.key, r.operator, r.values]);
}

export function matches(sel: Selector, labels: Labels): boolean {
  if (sel.invalid) return false;
  for (const k in sel.matchLabels) {
    if (labels[k] !== sel.matchLabels[k]) return false;
  }
  for (const r of sel.requirements) {
    const has = Object.hasOwn(labels, r.key);
    switch (r.operator) {
      case "In":
        if (!has || !r.values.includes(labels[r.key])) return false;
        break;
      case "NotIn":
        if (has && r.values.includes(labels[r.key])) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
    }
  }
  return true;
}

/** Equal for selectors that select the same by construction (order of keys and values aside). */
export function selectorKey(sel: Selector): string {
  const labels = Object.keys(sel.matchLabels).sort().map((k) => [k, sel.matchLabels[k]]);
  return JSON.stringify([labels, sel.requirements.map(selectorKeyOfRequirement), sel.invalid ?? 0]);
}

export function isSelectAll(sel: Selector): boolean {
  return !sel.invalid && Object.keys(sel.matchLabels).length === 0 &&
    sel.requirements.length === 0;
}

/**
 * The label pairs every selected object must carry (matchLabels and single-value `In`): an
 * index on `key=value` narrows the candidates to those carrying all of them.
 */
export function requiredPairs(sel: Selector): Array<[string, string]> {
  const out: Array<[string, string]> = Object.entries(sel.matchLabels);
  for (const r of sel.requirements) {
    if (r.operator === "In" && r.values.length === 1) out.push([r.key, r.values[0]]);
  }
  return out;
}

/** Human-readable form, for status and logs: `app=web,tier in (a,b),!legacy`. */
export function formatSelector(sel: Selector): string {
  const parts = Object.keys(sel.matchLabels).sort().map((k) => `${k}=${sel.matchLabels[k]}`);
  for (const r of sel.requirements) {
    if (r.operator === "Exists") parts.push(r.key);
    else if (r.operator === "DoesNotExist") parts.push(`!${r.key}`);
    else parts.push(`${r.key} ${r.operator === "In" ? "in" : "notin"} (${r.values.join(",")})`);
  }
  const text = parts.length === 0 ? "(all)" : parts.join(",");
  return sel.invalid ? `${text} [invalid: ${sel.invalid}]` : text;
}
