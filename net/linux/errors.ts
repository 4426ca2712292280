/** The one error type every kernel-facing call in net/linux throws. */

import { Errno, errnoDescription, errnoName } from "./errno.ts";

/**
 * A failed kernel operation (or input rejected before reaching the kernel, with code EINVAL).
 * `op` says what was attempted ("create veth"), `object` what it was attempted on (an interface
 * name, a netns path, a CIDR), `code` the errno name callers branch on ("EEXIST").
 * Message: `create veth "vethwepl1234" failed: EEXIST (File exists)`, plus the kernel's
 * extended-ack text or our own detail when there is one.
 */
export class LinuxError extends Error {
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
    super(`${what} failed: ${errnoName(errno)} (${why})`);
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
