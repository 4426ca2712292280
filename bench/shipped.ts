/**
 * The weavets the benchmarks measure: what ships — install.sh's product, installed into a
 * temporary prefix for the run (without denort, as here, the launcher with the plugin's path
 * bundled) — unless WEAVETS_BIN names one. The tests' dev launcher (tests/harness/binary.ts)
 * runs mod.ts with the repository's config: not what a node runs.
 */
import { REPO_ROOT, weavetsBin } from "../tests/harness/binary.ts";

/** Runs `fn` with WEAVETS_BIN set to the shipped product; the installation is removed after. */
export async function withShipped<T>(fn: () => Promise<T>): Promise<T> {
  if (Deno.env.get("WEAVETS_BIN")) return await fn();
  const prefix = await Deno.makeTempDir({ prefix: "weavets-bench-" });
  try {
    // The caller's DENO_DIR must not leak into what install.sh produces.
    const args = ["-u", "DENO_DIR", `${REPO_ROOT}/install.sh`, "--prefix", prefix, "--no-cni"];
    const out = await new Deno.Command("env", {
      args: [...args, "--no-packages"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.code !== 0) {
      throw new Error(`install.sh failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    const said = new TextDecoder().decode(out.stdout).trim().split("\n");
    console.error(said.filter((l) => /produced|bundle/.test(l)).join("\n"));
    Deno.env.set("WEAVETS_BIN", `${prefix}/bin/weavets`);
    return await fn();
  } finally {
    Deno.env.delete("WEAVETS_BIN");
    await Deno.remove(prefix, { recursive: true }).catch(() => {});
  }
}

/** Whether the weavets measured is a compiled binary or install.sh's launcher, and which. */
export function binaryKind(): string {
  const bin = weavetsBin();
  const head = new Uint8Array(2);
  const f = Deno.openSync(bin);
  try {
    f.readSync(head);
  } finally {
    f.close();
  }
  if (head[0] !== 0x23 || head[1] !== 0x21) return `compiled (${bin})`;
  // install.sh's launcher runs the plugin from lib/weavets/plugin.js when it could bundle it.
  const lib = `${Deno.realPathSync(bin).replace(/\/bin\/[^/]*$/, "")}/lib/weavets`;
  const bundled = Deno.readTextFileSync(bin).includes("plugin.js") && (() => {
    try {
      return Deno.statSync(`${lib}/plugin.js`).isFile;
    } catch {
      return false;
    }
  })();
  return `launcher${bundled ? ", the plugin's path bundled" : ""} (${bin})`;
}
