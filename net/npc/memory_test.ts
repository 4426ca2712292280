/**
 * The policy controller's live heap with the benchmark's load (1,000 policies over 5,000 pods,
 * 250 of them local): a budget, so that a change that makes every pod or policy cost more shows
 * up here and not only as daemon RSS in bench:npc. Measured 4.1 MB for the model and 3.8 MB for
 * the compiled state; before the arrays they keep per pod were made exact-size, 5.9 and 5.0 MB
 * (negative control: both fail the budgets).
 */
import assert from "node:assert/strict";
import { collectGarbage } from "../linux/memory.ts";
import { PolicyEngine } from "./engine.ts";
import {
  namespaceSchema,
  networkPolicySchema,
  podSchema,
  toNamespace,
  toPod,
  toPolicy,
} from "./objects.ts";
import { BENCH_SIZE, workload } from "./testing/workload.ts";

const MB = 1024 * 1024;

function heapUsed(): number {
  collectGarbage();
  return Deno.memoryUsage().heapUsed;
}

Deno.test("npc memory: the model and the compiled state of the benchmark load within budget", () => {
  const engine = new PolicyEngine({ node: "node-0", supported: (p) => p !== "SCTP" });
  // As the watches deliver them: one object at a time, parsed from its own JSON text (so the
  // strings are the parser's, not the workload generator's shared literals).
  const texts = (() => {
    const w = workload(BENCH_SIZE);
    return {
      ns: w.namespaces.map((o) => JSON.stringify(o)),
      pods: w.pods.map((o) => JSON.stringify(o)),
      policies: w.policies.map((o) => JSON.stringify(o)),
    };
  })();
  const before = heapUsed();
  const m = engine.model;
  for (const t of texts.ns) m.upsertNamespace(toNamespace(namespaceSchema.parse(JSON.parse(t))));
  for (const t of texts.pods) m.upsertPod(toPod(podSchema.parse(JSON.parse(t))));
  for (const t of texts.policies) {
    m.upsertPolicy(toPolicy(networkPolicySchema.parse(JSON.parse(t))));
  }
  texts.ns = texts.pods = texts.policies = [];
  const model = heapUsed() - before;
  const c = engine.commit();
  const compiled = heapUsed() - before - model;
  assert.ok(c.state.local.length > 200, "pods of node-0 are local");
  assert.ok(model < 5 * MB, `the model holds ${(model / MB).toFixed(1)} MB (budget 5)`);
  assert.ok(
    compiled < 4.4 * MB,
    `the compiled state ${(compiled / MB).toFixed(1)} MB (budget 4.4)`,
  );
});
