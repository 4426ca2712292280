/**
 * deploy/prometheus/weave-compat.rules.yaml: valid rule groups, every weavets_* name it reads is
 * one the daemon registers (a renamed metric would silently record nothing), and every Weave
 * Net 2.8.1 metric with a weavets equivalent is re-exported.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { z } from "zod";

const root = new URL("../", import.meta.url);
const Rules = z.object({
  groups: z.array(z.object({
    name: z.string(),
    rules: z.array(
      z.object({ record: z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/), expr: z.string() })
        .strict(),
    ),
  })).min(1),
});

function sources(dir: URL, out: string[] = []): string[] {
  for (const e of Deno.readDirSync(dir)) {
    const u = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) sources(u, out);
    else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) {
      out.push(Deno.readTextFileSync(u));
    }
  }
  return out;
}

Deno.test("Prometheus rules: Weave's names from metrics the daemon really exports", () => {
  const rules = Rules.parse(
    parse(Deno.readTextFileSync(new URL("deploy/prometheus/weave-compat.rules.yaml", root))),
  );
  const recorded = rules.groups.flatMap((g) => g.rules.map((r) => r.record));
  const code = sources(new URL("net/", root)).join("\n");
  const registered = new Set([...code.matchAll(/"(weavets_[a-z_]+)"/g)].map((m) => m[1]));
  for (const r of rules.groups.flatMap((g) => g.rules)) {
    const used = [...r.expr.matchAll(/\bweavets_[a-z_]+/g)].map((m) => m[0]);
    assert.ok(used.length > 0, `${r.record} reads a weavets metric`);
    for (const u of used) {
      assert.ok(registered.has(u), `${r.record}: ${u} is not a metric the daemon registers`);
    }
  }
  // Negative control: the check sees a name that does not exist.
  assert.equal(registered.has("weavets_ipam_pending_allocate"), false);
  for (
    const weave of [
      "weave_connections",
      "weave_connection_terminations_total",
      "weave_ips",
      "weave_max_ips",
      "weave_ipam_unreachable_count",
      "weave_ipam_unreachable_percentage",
      "weave_ipam_pending_allocates",
      "weave_ipam_pending_claims",
      "weavenpc_blocked_connections_total",
      "weavenpc_policy_enforcement_errors",
    ]
  ) assert.ok(recorded.includes(weave), `${weave} re-exported`);
});
