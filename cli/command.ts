/** What every subcommand module exports. Exit codes: 0 ok, 1 failure, 2 usage error. */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { describeCause } from "../net/cause.ts";
import { type ErrorKind, WeavetsError } from "../net/errors.ts";

export interface Command {
  run(args: string[]): Promise<number>;
}

/** Thrown for bad command-line input; the entry point prints it with the usage hint, exit 2. */
export class UsageError extends WeavetsError {
  override name = "UsageError";
  constructor(message: string) {
    super("config", message);
  }
}

/**
 * The exit code of a command that failed with an error of this kind (net/errors.ts): the one place
 * the CLI maps errors. 2 when the operator must change what they ran (flags, environment, config
 * files), as for a usage error; 1 for every other failure.
 */
export function exitCodeFor(kind: ErrorKind): 1 | 2 {
  return kind === "config" ? 2 : 1;
}

/** For a subcommand that a later issue fills in: says so and fails. */
export function notAvailable(name: string, issue: number): Command {
  return {
    run() {
      console.error(`weavets ${name}: not available yet in this build (tracked in issue ${issue})`);
      return Promise.resolve(1);
    },
  };
}

/** node:util's parseArgs, with bad input as a UsageError (printed with the usage hint, exit 2). */
export function parseCommandLine<T extends ParseArgsConfig>(
  config: T,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    throw new UsageError(describeCause(e));
  }
}
