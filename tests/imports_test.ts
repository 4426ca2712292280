/**
 * No import cycles anywhere in the repository: every static, type-only, re-export and dynamic
 * import between its own .ts files (product, tests and benchmarks) is an edge, and the graph must
 * have no strongly connected component of more than one module (nor a module importing itself).
 * A type-only cycle does no harm at run time, but it says that shared types sit in the wrong module
 * (put them in a leaf module, as cni/context.ts and cni/ipam/types.ts do).
 */
import assert from "node:assert/strict";
import { REPO_ROOT } from "./harness/binary.ts";
import { IMPORT_RE, importGraph } from "./harness/imports.ts";

/** The cycles of `graph`: its strongly connected components that loop (Tarjan's algorithm). */
export function findCycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || graph.get(v)!.includes(v)) cycles.push(scc.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles.sort((a, b) => a[0].localeCompare(b[0]));
}

Deno.test("imports: the finder sees a type-only cycle, a dynamic one and a self-import", () => {
  const text = [
    'import type { A } from "./b.ts";',
    'export { C } from "../c/c.ts";',
    'const m = await import("./a.ts");',
  ].join("\n");
  const edges = [...text.matchAll(IMPORT_RE)].map((m) => m[1]);
  assert.deepEqual(edges, ["./b.ts", "../c/c.ts", "./a.ts"]);
  const graph = new Map([
    ["x/a.ts", ["x/b.ts"]],
    ["x/b.ts", ["x/c.ts"]],
    ["x/c.ts", ["x/a.ts", "y/d.ts"]],
    ["y/d.ts", ["y/d.ts"]],
    ["y/e.ts", ["x/a.ts", "npm:zod"]],
  ]);
  assert.deepEqual(findCycles(graph), [["x/a.ts", "x/b.ts", "x/c.ts"], ["y/d.ts"]]);
});

Deno.test("imports: no module of the repository imports itself through others", () => {
  const graph = importGraph(REPO_ROOT);
  assert.ok(graph.has("cni/execute.ts") && graph.size > 300, `scanned only ${graph.size} files`);
  const cycles = findCycles(graph);
  assert.deepEqual(cycles.map((c) => c.join(" -> ")), [], "import cycles");
});
