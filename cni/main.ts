/**
 * The CNI plugin's entry: reads CNI_* and stdin, runs one command, prints its result (or the
 * spec's error object) on stdout. Diagnostics go to stderr only. Each command's module is
 * imported on demand: start-up is paid on every pod event, and VERSION loads almost nothing.
 */
import { CniError, describeCause, ErrorCode } from "./errors.ts";
import { type CniCommand, type CniEnv, parseEnv } from "./env.ts";
import { LATEST_VERSION, requireCommandAllowed } from "./spec.ts";

export type Output = Record<string, unknown> | undefined;

/** Runs the command the environment names; returns the exit code (0 ok, 1 error). */
export async function runCni(processEnv: Record<string, string>): Promise<number> {
  let version: string = LATEST_VERSION;
  try {
    const env = parseEnv(processEnv);
    if (env.command === "VERSION") {
      const [stdin, { versionInfo }] = await Promise.all([readStdin(), import("./version.ts")]);
      print(versionInfo(stdin));
      return 0;
    }
    // The command is known from the environment: its modules load while stdin is read.
    const [stdin, { parseConfig }, run] = await Promise.all([
      readStdin(),
      import("./config.ts"),
      import("./commands.ts").then((m) =>
        m.loadCommand(env.command as Exclude<CniCommand, "VERSION">)
      ),
    ]);
    version = rawVersion(stdin) ?? version;
    const conf = parseConfig(stdin);
    requireCommandAllowed(env.command, conf.cniVersion);
    const out = await run({ conf, env, rawConfig: stdin, processEnv });
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
