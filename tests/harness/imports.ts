/** The repository's import graph between its own .ts files (tests/imports_test.ts, tests/architecture_test.ts). */
/** `from "./x.ts"` (imports and re-exports, `import type` too), `import("./x.ts")`, `import "./x.ts"`. */
export const IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.{1,2}\/[^"']+)["']/g;
const SKIP = new Set([".git", ".tmp", "node_modules"]);

/** Every .ts file under `root` (relative paths) with the repo-relative modules it imports. */
export function importGraph(root: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(`${root}/${dir}`)) {
      if (SKIP.has(e.name)) continue;
      const rel = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory) walk(rel);
      else if (e.isFile && rel.endsWith(".ts")) {
        const text = Deno.readTextFileSync(`${root}/${rel}`);
        graph.set(
          rel,
          [...text.matchAll(IMPORT_RE)].map((m) =>
            new URL(m[1], `file:///${rel}`).pathname.slice(1)
          ),
        );
      }
    }
  };
  walk("");
  return graph;
}
