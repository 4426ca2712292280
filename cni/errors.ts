/**
 * CNI errors: the spec's well-known codes and the error object printed on stdout.
 * Messages say what is wrong and what to do about it; `details` carries the low-level cause,
 * never a stack trace or a source path (runtimes pass both up into pod events): stacks go to the
 * daemon's log, or the plugin's stderr (the runtime's log).
 */

export const ErrorCode = {
  /** Incompatible CNI version. */
  IncompatibleVersion: 1,
  /** Unsupported field in the network configuration. */
  UnsupportedField: 2,
  /** Container unknown or does not exist. */
  UnknownContainer: 3,
  /** Invalid necessary environment variables (CNI_COMMAND, CNI_CONTAINERID, ...). */
  InvalidEnvironment: 4,
  /** I/O failure, e.g. reading stdin or talking to the kernel. */
  IOFailure: 5,
  /** Failed to decode content, e.g. stdin is not JSON. */
  DecodeFailure: 6,
  /** Invalid network configuration. */
  InvalidConfig: 7,
  /** Try again later: a transient condition (the daemon is unreachable). */
  TryAgainLater: 11,
  /** STATUS: the plugin is not available (daemon unreachable or not ready). */
  PluginNotAvailable: 50,
  /** STATUS: the network is usable with limited connectivity. */
  LimitedConnectivity: 51,
  /** Plugin-specific (>= 100): CHECK found the container's network differs from prevResult. */
  CheckMismatch: 100,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode] | number;

export class CniError extends Error {
  override name = "CniError";
  constructor(readonly code: ErrorCode, msg: string, readonly details?: string) {
    super(msg);
  }

  /** The spec's error object (what the runtime reads on stdout). */
  toJSON(cniVersion: string): Record<string, unknown> {
    const out: Record<string, unknown> = { cniVersion, code: this.code, msg: this.message };
    if (this.details) out.details = this.details;
    return out;
  }
}

import { describeCause } from "../net/cause.ts";
import { type ErrorKind, kindOf } from "../net/errors.ts";

/** A short text for the cause of an exception (for `details`, log field `cause`): no stack. */
export { describeCause };

/**
 * The CNI error code of a failure of each kind (net/errors.ts): the one place the plugin maps
 * errors it did not raise as a CniError. Only kinds the spec has a code for get one; the rest are
 * error 5 (I/O failure), as before this mapping existed.
 */
export function cniCodeFor(kind: ErrorKind): ErrorCode {
  switch (kind) {
    case "invalid-input":
    case "too-large":
      return ErrorCode.DecodeFailure;
    case "config":
      return ErrorCode.InvalidConfig;
    case "unavailable":
      return ErrorCode.TryAgainLater;
    case "conflict":
    case "not-found":
    case "system":
    case "internal":
      return ErrorCode.IOFailure;
  }
}

/**
 * A failure the commands did not raise as a CniError (a kernel error, a bug) as the runtime sees
 * it: its kind's code with the cause in one line. The stack is the caller's to log (`where` says
 * where it went).
 */
export function unexpectedError(command: string, e: unknown, where: string): CniError {
  return new CniError(cniCodeFor(kindOf(e)), `${command} failed: ${describeCause(e)}`, where);
}

/** JSON.parse, or error 6 (decode failure) saying `problem`, with the parser's message. */
export function decodeJson(text: string, problem: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CniError(ErrorCode.DecodeFailure, problem, describeCause(e));
  }
}
