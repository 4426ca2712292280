/**
 * Runs one CNI command from CNI_* and the config on stdin, giving its result (or the spec's
 * error object) for stdout and a diagnostic line for stderr; the plugin (cni/client.ts) and the
 * daemon (cni/server.ts) both run commands through here. Each command's module is imported on
 * demand: the plugin pays start-up on every pod event, and VERSION loads almost nothing.
 */
import type { CommandContext } from "./context.ts";
import { CniError, describeCause, ErrorCode, unexpectedError } from "./errors.ts";
import { type CniCommand, parseEnv } from "./env.ts";
import { LATEST_VERSION, requireCommandAllowed } from "./spec.ts";
import { MAX_STDIN_BYTES, StdinTooLarge } from "./stdin.ts";

/** A command's outcome: the stdout object, the exit code, and a line for stderr on error. */
export interface CniOutcome {
  output?: Record<string, unknown>;
  code: number;
  message?: string;
  /** A failure the commands did not classify (its stack is for the log, never for stdout). */
  unexpected?: unknown;
}

export interface ExecuteOptions {
  /** Set by the daemon: see CommandContext.defer. */
  defer?: CommandContext["defer"];
  /** The name the plugin was exec'd by (its file name), when known: picks the IPAM-only role. */
  execName?: string;
  /** Set by the daemon: see CommandContext.mark. */
  mark?: CommandContext["mark"];
}

/**
 * Runs the command `processEnv` names on the config `stdin`. Never throws: failures become the
 * spec's error object. Used by the plugin process and by the daemon serving plugins.
 */
export async function executeCni(
  processEnv: Record<string, string>,
  stdin: string,
  opts: ExecuteOptions = {},
): Promise<CniOutcome> {
  let version: string = LATEST_VERSION;
  let command = "CNI";
  try {
    const env = parseEnv(processEnv);
    command = env.command;
    if (env.command === "VERSION") {
      const { versionInfo } = await import("./version.ts");
      return { output: versionInfo(stdin), code: 0 };
    }
    version = rawVersion(stdin) ?? version;
    const cmd = env.command as Exclude<CniCommand, "VERSION">;
    const [{ decodeConfig, parseConfig }, { isIpamInvocation }, { loadCommand }] = await Promise
      .all([import("./config.ts"), import("./invocation.ts"), import("./commands.ts")]);
    const raw = decodeConfig(stdin);
    const ipamOnly = isIpamInvocation(raw, opts.execName);
    const conf = parseConfig(stdin, { raw, ipamOnly });
    requireCommandAllowed(env.command, conf.cniVersion);
    const run = await loadCommand(cmd, ipamOnly);
    opts.mark?.("parse");
    const output = await run({
      conf,
      env,
      rawConfig: stdin,
      processEnv,
      defer: opts.defer,
      mark: opts.mark,
    });
    return { output, code: 0 };
  } catch (e) {
    if (e instanceof CniError) return failed(e, version);
    // The daemon never answers with this (it leaves the event to the plugin): the plugin prints
    // the stack on stderr.
    const where = "the stack is on the plugin's stderr (the runtime's log)";
    return { ...failed(unexpectedError(command, e, where), version), unexpected: e };
  }
}

function failed(err: CniError, version: string): CniOutcome {
  return {
    output: err.toJSON(version),
    code: 1,
    message: `weavets cni: error ${err.code}: ${err.message}`,
  };
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
  return failed(
    new CniError(
      ErrorCode.TryAgainLater,
      "the weavets daemon stopped while adding the pod's interface; whatever it had made is " +
        "removed: retry when the daemon is back",
      details,
    ),
    rawVersion(stdin) ?? LATEST_VERSION,
  );
}

/**
 * stdin could not be read: error 6 when it is larger than any network config (the start of it,
 * `partial`, may still say which version to answer in), else error 5.
 */
export function stdinFailure(e: unknown, partial = ""): CniOutcome {
  const version = /"cniVersion"\s*:\s*"([0-9.]{1,16})"/.exec(partial)?.[1] ?? LATEST_VERSION;
  const err = e instanceof StdinTooLarge
    ? new CniError(
      ErrorCode.DecodeFailure,
      `the network config on stdin is larger than ${MAX_STDIN_BYTES} bytes; a network config ` +
        "is a few KiB: check what the runtime passes",
    )
    : new CniError(
      ErrorCode.IOFailure,
      "cannot read the network config from stdin",
      describeCause(e),
    );
  return failed(err, version);
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
