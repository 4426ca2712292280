/**
 * deploy/Containerfile's agreement with the rest, checked statically: everything it copies exists,
 * and the paths the manifest and the install script use are the ones the image provides. The
 * image is built and run for real in tests/deploy.
 */
import assert from "node:assert/strict";
import { REPO_ROOT } from "../harness/binary.ts";
import { parseManifest } from "./k8s_schema.ts";

const containerfile = Deno.readTextFileSync(`${REPO_ROOT}/deploy/Containerfile`);
const script = Deno.readTextFileSync(`${REPO_ROOT}/deploy/init/install-cni.sh`);

/** [source, destination] of every COPY without --from (sources relative to the repo root). */
function copies(): Array<[string[], string]> {
  return [...containerfile.matchAll(/^COPY (?!--from)(.+)$/gm)].map((m) => {
    const words = m[1].trim().split(/\s+/);
    return [words.slice(0, -1), words.at(-1)!];
  });
}

Deno.test("Containerfile: multi-stage through install.sh, and every file it copies exists", () => {
  assert.equal(containerfile.match(/^FROM /gm)?.length, 2);
  assert.match(containerfile, /^FROM \$\{BUILD_IMAGE\} AS build$/m);
  assert.match(containerfile, /^FROM \$\{BASE_IMAGE\}$/m);
  // The build stage produces what install.sh produces (compiled or launcher), into /usr/local.
  assert.match(containerfile, /\.\/install\.sh --prefix \/usr\/local --no-cni --no-packages/);
  assert.match(
    containerfile,
    /^COPY --from=build \/usr\/local\/bin\/weavets \/usr\/local\/bin\/weavets$/m,
  );
  assert.match(
    containerfile,
    /^COPY --from=build \/usr\/local\/lib\/weavets\/ \/usr\/local\/lib\/weavets\/$/m,
  );
  for (const [sources] of copies()) {
    for (const s of sources) Deno.statSync(`${REPO_ROOT}/${s}`); // throws when missing
  }
  // Worker modules must be named explicitly for deno compile, in every place that compiles.
  const workers = ["cli", "cni", "net"].flatMap(workerModules);
  assert.ok(workers.length >= 3, "the userspace path's and the demo's Workers are found");
  const compilers = {
    "install.sh": Deno.readTextFileSync(`${REPO_ROOT}/install.sh`),
    "deno.json": Deno.readTextFileSync(`${REPO_ROOT}/deno.json`),
  };
  for (const w of workers) {
    for (const [name, text] of Object.entries(compilers)) {
      assert.ok(text.includes(`--include ${w}`), `${name} lacks --include ${w}`);
    }
  }
});

/** Every `*_worker.ts` under `dir` (relative to the repository root). */
function workerModules(dir: string): string[] {
  return [...Deno.readDirSync(`${REPO_ROOT}/${dir}`)].flatMap((e) =>
    e.isDirectory
      ? workerModules(`${dir}/${e.name}`)
      : e.name.endsWith("_worker.ts")
      ? [`${dir}/${e.name}`]
      : []
  );
}

Deno.test("Containerfile: the image holds what the manifest and install script expect", () => {
  const dest = Object.fromEntries(copies().map(([s, d]) => [s.join(" "), d]));
  const spec = (parseManifest(Deno.readTextFileSync(`${REPO_ROOT}/deploy/weavets.yaml`))
    .find((d) => d.kind === "DaemonSet") as {
      spec: { template: { spec: { initContainers: Array<{ command: string[] }> } } };
    }).spec.template.spec;
  assert.equal(dest["deploy/init/install-cni.sh"], spec.initContainers[0].command[0]);
  const conflist = dest["deploy/cni/10-weavets.conflist"];
  assert.ok(script.includes(`CONFLIST_SRC:-${conflist}`), "install script default = image path");
  assert.ok(script.includes("WEAVETS_BIN:-/usr/local/bin/weavets"));
  // A launcher at /usr/local/bin/weavets finds its runtime in ../lib/weavets: the directory the
  // install script copies to the node.
  const install = Deno.readTextFileSync(`${REPO_ROOT}/install.sh`);
  assert.match(install, /^lib=\$\{self%\/\*\}\/\.\.\/lib\/weavets$/m);
  assert.ok(script.includes("WEAVETS_LIB:-/usr/local/lib/weavets"));
});
