/**
 * The weavets executable that end-to-end tests run, as a runtime or an operator would: by path,
 * with an environment of its own. WEAVETS_BIN selects a built product (CI points it at what
 * install.sh produced); otherwise a launcher for this working tree is written once per run.
 */
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

let cached: string | undefined;

export function weavetsBin(): string {
  if (cached) return cached;
  const fromEnv = Deno.env.get("WEAVETS_BIN");
  if (fromEnv) return (cached = fromEnv);
  const dir = `${REPO_ROOT}/.tmp/dev-bin`;
  Deno.mkdirSync(dir, { recursive: true });
  const path = `${dir}/weavets`;
  const denoDir = Deno.env.get("DENO_DIR");
  const script = [
    "#!/bin/sh",
    "# written by tests/harness/binary.ts: runs this working tree's entry point",
    `${denoDir ? `DENO_DIR='${denoDir}' ` : ""}DENO_NO_UPDATE_CHECK=1 NO_COLOR=1 \\`,
    `  exec '${Deno.execPath()}' run --allow-all --no-prompt --cached-only \\`,
    `  --config '${REPO_ROOT}/deno.json' '${REPO_ROOT}/mod.ts' "$@"`,
    "",
  ].join("\n");
  const tmp = `${path}.${Deno.pid}`;
  Deno.writeTextFileSync(tmp, script, { mode: 0o755 });
  Deno.renameSync(tmp, path);
  return (cached = path);
}

/** The command line that runs a repo script with this Deno, from the cache, with the repo's config. */
export function denoRun(script: string, ...args: string[]): string[] {
  return [
    Deno.execPath(),
    "run",
    "-A",
    "--cached-only",
    "--config",
    `${REPO_ROOT}/deno.json`,
    `${REPO_ROOT}/${script}`,
    ...args,
  ];
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs weavets with `args`, `env` (replacing the environment when `clearEnv`) and `stdin`. */
export async function runWeavets(
  args: string[],
  opts: {
    env?: Record<string, string>;
    clearEnv?: boolean;
    stdin?: string;
    netns?: string;
    /** Another executable than weavetsBin() (e.g. the plugin under another name). */
    bin?: string;
  } = {},
): Promise<RunResult> {
  const bin = opts.bin ?? weavetsBin();
  const [cmd, cmdArgs] = opts.netns
    ? ["ip", ["netns", "exec", opts.netns, bin, ...args]]
    : [bin, args];
  const child = new Deno.Command(cmd, {
    args: cmdArgs,
    env: opts.env,
    clearEnv: opts.clearEnv,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
