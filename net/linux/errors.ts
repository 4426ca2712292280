/** The one error type every kernel-facing call in net/linux throws. */

import { type ErrorKind, WeavetsError } from "../errors.ts";
import { Errno, errnoDescription, errnoName } from "./errno.ts";

/**
 * The kind (net/errors.ts) of a failed kernel operation, by its errno name: what is not there is
 * `not-found`, what is there already `conflict`, the rest a `system` failure.
 */
export function linuxErrorKind(code: string): ErrorKind {
  switch (code) {
    case "ENOENT":
    case "ENODEV":
    case "ESRCH":
      return "not-found";
    case "EEXIST":
      return "conflict";
    default:
      return "system";
  }
}

/**
 * A failed kernel operation (or input rejected before reaching the kernel, with code EINVAL).
 * `op` says what was attempted ("create veth"), `object` what it was attempted on (an interface
 * name, a netns path, a CIDR), `code` the errno name callers branch on ("EEXIST").
 * Message: `create veth "vethwepl1234" failed: EEXIST (File exists)`, plus the kernel's
 * extended-ack text or our own detail when there is one.
 */
export class LinuxError extends WeavetsError {
  override name = "LinuxError";
  readonly op: string;
  readonly errno: number;
  readonly code: string;
  readonly object?: string;
  /** Extra explanation: the kernel's extended ack message or a validation detail. */
  readonly detail?: string;

  constructor(op: string, errno: number, object?: string, detail?: string) {
    const what = object === undefined ? op : `${op} "${object}"`;
    const why = detail ? `${errnoDescription(errno)}: ${detail}` : errnoDescription(errno);
    super(linuxErrorKind(errnoName(errno)), `${what} failed: ${errnoName(errno)} (${why})`);
    this.op = op;
    this.errno = errno;
    this.code = errnoName(errno);
    this.object = object;
    this.detail = detail;
  }
}

/** Input rejected before asking the kernel: a LinuxError with code EINVAL and a precise detail. */
export function invalid(op: string, object: string | undefined, detail: string): LinuxError {
  return new LinuxError(op, Errno.EINVAL, object, detail);
}
