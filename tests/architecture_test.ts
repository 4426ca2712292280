/**
 * docs/ARCHITECTURE.md's dependency list is the product's real import graph between concepts
 * (folders), so the map cannot drift: a new arrow in the code fails here until the doc says it.
 * Product modules only (no tests, benchmarks, *_test.ts or testing/ doubles).
 */
import assert from "node:assert/strict";
import { REPO_ROOT } from "./harness/binary.ts";
import { importGraph } from "./harness/imports.ts";

const BEGIN = "<!-- dependencies: begin (checked by tests/architecture_test.ts) -->";
const END = "<!-- dependencies: end -->";

/** The concept a product module belongs to: `net/<x>`, the top folder, or a root file's name. */
export function conceptOf(path: string): string | null {
  if (/(^|\/)(tests|bench|testing)\//.test(path) || path.endsWith("_test.ts")) return null;
  if (path.startsWith("tests/") || path.startsWith("bench/")) return null;
  const parts = path.split("/");
  if (parts.length === 1) return path.replace(/\.ts$/, "");
  if (parts[0] === "net") {
    return parts.length === 2 ? `net/${parts[1].replace(/\.ts$/, "")}` : `net/${parts[1]}`;
  }
  return parts[0];
}

/** "A → B, C" lines, one per concept that imports others, sorted. */
export function dependencyLines(graph: Map<string, string[]>): string[] {
  const arrows = new Map<string, Set<string>>();
  for (const [from, tos] of graph) {
    const a = conceptOf(from);
    if (a === null) continue;
    for (const to of tos) {
      const b = conceptOf(to);
      if (b === null || b === a) continue;
      if (!arrows.has(a)) arrows.set(a, new Set());
      arrows.get(a)!.add(b);
    }
  }
  return [...arrows].sort(([x], [y]) => x.localeCompare(y))
    .map(([a, bs]) => `${a} → ${[...bs].sort().join(", ")}`);
}

Deno.test("architecture: concepts of modules", () => {
  assert.equal(conceptOf("net/mesh/router.ts"), "net/mesh");
  assert.equal(conceptOf("net/log.ts"), "net/log");
  assert.equal(conceptOf("cni/ipam/daemon.ts"), "cni");
  assert.equal(conceptOf("mod.ts"), "mod");
  assert.equal(conceptOf("net/mesh/testing/keyring.ts"), null);
  assert.equal(conceptOf("net/mesh/router_test.ts"), null);
  assert.deepEqual(
    dependencyLines(new Map([["a/x.ts", ["b/y.ts", "a/z.ts", "net/mesh/testing/t.ts"]]])),
    ["a → b"],
  );
});

Deno.test("architecture: docs/ARCHITECTURE.md lists every dependency between concepts, and no other", () => {
  const doc = Deno.readTextFileSync(`${REPO_ROOT}/docs/ARCHITECTURE.md`);
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  assert.ok(a >= 0 && b > a, `docs/ARCHITECTURE.md has no ${BEGIN} … ${END} block`);
  const documented = doc.slice(a + BEGIN.length, b).split("\n")
    .map((l) => l.trim()).filter((l) => l.includes("→"));
  const real = dependencyLines(importGraph(REPO_ROOT));
  assert.deepEqual(
    documented,
    real,
    "docs/ARCHITECTURE.md's dependency block differs from the imports; the real one is:\n" +
      real.join("\n"),
  );
});
