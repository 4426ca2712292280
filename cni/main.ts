/**
 * Runs one CNI command from CNI_* and the config on stdin, giving its result (or the spec's
 * error object) for stdout and a diagnostic line for stderr; the plugin (cni/client.ts) and the
 * daemon (cni/server.ts) both run commands through here. Each command's module is imported on
 * demand: the plugin pays start-up on every pod event, and VERSION loads almost nothing.
 */
import { CniError, describeCause, ErrorCode } from "./errors.ts";
import { type CniCommand, type CniEnv, parseEnv } from "./env.ts";
import type { IpamContext } from "./ipam/source.ts";
import { LATEST_VERSION, requireCommandAllowed } from "./spec.ts";
import { readStdinSync } from "./stdin.ts";

export type Output = Record<string, unknown> | undefined;

/** A command's outcome: the stdout object, the exit code, and a line for stderr on error. */
export interface CniOutcome {
  output?: Record<string, unknown>;
  code: number;
  message?: string;
}

/**
 * Runs the command `processEnv` names on the config `stdin` (text, or a reader started only
 * once the command is known). Never throws: failures become the spec's error object. Used by the
 * plugin process and by the daemon serving plugins (cni/server.ts).
 */
export async function executeCni(
  processEnv: Record<string, string>,
  stdin: string | (() => Promise<string>),
  defer?: IpamContext["defer"],
): Promise<CniOutcome> {
  let version: string = LATEST_VERSION;
  const read = typeof stdin === "string" ? () => Promise.resolve(stdin) : stdin;
  try {
    const env = parseEnv(processEnv);
    if (env.command === "VERSION") {
      const [text, { versionInfo }] = await Promise.all([read(), import("./version.ts")]);
      return { output: versionInfo(text), code: 0 };
    }
    // The command is known from the environment: its modules load while stdin is read.
    const [text, { parseConfig }, run] = await Promise.all([
      read(),
      import("./config.ts"),
      import("./commands.ts").then((m) =>
        m.loadCommand(env.command as Exclude<CniCommand, "VERSION">)
      ),
    ]);
    version = rawVersion(text) ?? version;
    const conf = parseConfig(text);
    requireCommandAllowed(env.command, conf.cniVersion);
    const output = await run({ conf, env, rawConfig: text, processEnv, defer });
    return { output, code: 0 };
  } catch (e) {
    const err = e instanceof CniError ? e : unexpected(e);
    return {
      output: err.toJSON(version),
      code: 1,
      message: `weavets cni: error ${err.code}: ${err.message}`,
    };
  }
}

/**
 * The daemon died while it ran this ADD: it may have made the pod's interface and not removed it.
 * Removes it, so a failed ADD leaves nothing on the host, and asks for a retry (error 11); the
 * address the daemon may have committed is released by the runtime's DEL of the failed sandbox.
 */
export async function abandonAdd(
  processEnv: Record<string, string>,
  stdin: string,
): Promise<CniOutcome> {
  let details: string | undefined;
  try {
    const env = parseEnv(processEnv);
    const [{ deleteHostLink }, { hostVethName }] = await Promise.all([
      import("./host.ts"),
      import("./names.ts"),
    ]);
    deleteHostLink(hostVethName(env.containerId, env.ifname));
  } catch (e) {
    details = `the interface could not be removed: ${describeCause(e)}`;
  }
  const err = new CniError(
    ErrorCode.TryAgainLater,
    "the weavets daemon stopped while adding the pod's interface; whatever it had made is " +
      "removed: retry when the daemon is back",
    details,
  );
  return {
    output: err.toJSON(rawVersion(stdin) ?? LATEST_VERSION),
    code: 1,
    message: `weavets cni: error ${err.code}: ${err.message}`,
  };
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

/** stdin as text, or error 5 (I/O failure) when it cannot be read. */
export function readStdin(): Promise<string> {
  try {
    return Promise.resolve(readStdinSync());
  } catch (e) {
    throw new CniError(
      ErrorCode.IOFailure,
      "cannot read the network config from stdin",
      describeCause(e),
    );
  }
}
