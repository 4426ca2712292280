/**
 * The CNI plugin's entry: reads CNI_* and stdin, runs one command, prints its result (or the
 * spec's error object) on stdout. Diagnostics go to stderr only. Each command's module is
 * imported on demand: start-up is paid on every pod event, and VERSION loads almost nothing.
 */
import { CniError, describeCause, ErrorCode } from "./errors.ts";
import { type CniEnv, parseEnv } from "./env.ts";
import { LATEST_VERSION, requireCommandAllowed } from "./spec.ts";

export type Output = Record<string, unknown> | undefined;

/** Runs the command the environment names; returns the exit code (0 ok, 1 error). */
export async function runCni(processEnv: Record<string, string>): Promise<number> {
  let version: string = LATEST_VERSION;
  try {
    const env = parseEnv(processEnv);
    const stdin = await readStdin();
    if (env.command === "VERSION") {
      const { versionInfo } = await import("./version.ts");
      print(versionInfo(stdin));
      return 0;
    }
    version = rawVersion(stdin) ?? version;
    const { parseConfig } = await import("./config.ts");
    const conf = parseConfig(stdin);
    requireCommandAllowed(env.command, conf.cniVersion);
    const { runCommand } = await import("./commands.ts");
    const out = await runCommand({ conf, env, rawConfig: stdin, processEnv });
    if (out) print(out);
    return 0;
  } catch (e) {
    const err = e instanceof CniError ? e : unexpected(e);
    print(err.toJSON(version));
    console.error(`weavets cni: error ${err.code}: ${err.message}`);
    return 1;
  }
}

export type { CniEnv };

function unexpected(e: unknown): CniError {
  // Kernel failures (LinuxError) and anything else the commands did not classify.
  return new CniError(
    ErrorCode.IOFailure,
    describeCause(e),
    e instanceof Error ? e.stack : undefined,
  );
}

/** The config's cniVersion when stdin is JSON with one: errors are written in that version. */
function rawVersion(stdin: string): string | undefined {
  try {
    const v = JSON.parse(stdin)?.cniVersion;
    return typeof v === "string" ? v : undefined;
  } catch {
    return undefined;
  }
}

async function readStdin(): Promise<string> {
  try {
    return await new Response(Deno.stdin.readable).text();
  } catch (e) {
    throw new CniError(
      ErrorCode.IOFailure,
      "cannot read the network config from stdin",
      describeCause(e),
    );
  }
}

function print(obj: Record<string, unknown>): void {
  Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(obj) + "\n"));
}
