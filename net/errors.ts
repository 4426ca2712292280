/**
 * The error convention (issue 15): every failure weavets raises on purpose has one of a few kinds,
 * and what a kind means to a user (a CNI error code, an HTTP status, an exit code, a log level) is
 * decided in one place per edge, from the kind alone: cni/errors.ts `cniCodeFor`, net/api/route.ts
 * `httpStatusFor`, cli/command.ts `exitCodeFor`, and `logLevelFor` here. A caller that maps a class
 * by hand is what this replaces. Leaf module: imports nothing, so net/linux and the CNI plugin's
 * file-by-file path can use it.
 */

/**
 * - `invalid-input`: malformed or forged data from a peer, a socket, a request or a file. Counted
 *   and logged (rate-limited) by whoever reads it; never fatal to the daemon.
 * - `too-large`: input over a size bound (a request body, stdin, a frame); invalid input with its
 *   own HTTP status (413).
 * - `config`: the operator's configuration (flags, environment, files, Secrets) is wrong; the
 *   message says what to fix. Fatal at start.
 * - `unavailable`: something this needs is not there yet or not now (the daemon, the API server,
 *   IPAM before it has a range): retry later.
 * - `conflict`: the request collides with existing state (another owner, another ring, a port
 *   held by a live Weave Net).
 * - `not-found`: the thing named does not exist.
 * - `system`: a system call, the kernel or a native library failed.
 * - `internal`: not classified: a bug, or a foreign error nobody gave a kind.
 */
export const ERROR_KINDS = [
  "invalid-input",
  "too-large",
  "config",
  "unavailable",
  "conflict",
  "not-found",
  "system",
  "internal",
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

/**
 * The base of weavets' own errors: a kind, the message (what is wrong and what to do), and an
 * optional cause (the low-level error) and details (structured fields for the log). Subclass only
 * where a caller needs `instanceof` for it or it carries fields of its own; otherwise throw this.
 */
export class WeavetsError extends Error {
  override name = "WeavetsError";
  readonly details?: Readonly<Record<string, unknown>>;
  constructor(
    readonly kind: ErrorKind,
    message: string,
    opts: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    if (opts.details) this.details = opts.details;
  }
}

/** Foreign errors with a kind of their own (Deno's I/O errors, JSON and zod parse errors). */
const FOREIGN: ReadonlyArray<[string, ErrorKind]> = [
  ["NotFound", "not-found"],
  ["AlreadyExists", "conflict"],
  ["AddrInUse", "conflict"],
  ["ConnectionRefused", "unavailable"],
  ["ConnectionReset", "unavailable"],
  ["ConnectionAborted", "unavailable"],
  ["NotConnected", "unavailable"],
  ["TimedOut", "unavailable"],
  ["Busy", "unavailable"],
  ["PermissionDenied", "system"],
  ["NotCapable", "system"],
  ["InvalidData", "invalid-input"],
  ["UnexpectedEof", "invalid-input"],
  ["SyntaxError", "invalid-input"],
  ["ZodError", "invalid-input"],
];

/**
 * The kind of any caught value: a WeavetsError's own; a foreign error's by its name (Deno.errors
 * are told apart by name, so this module stays free of Deno APIs); `internal` for anything else.
 */
export function kindOf(e: unknown): ErrorKind {
  if (e instanceof WeavetsError) return e.kind;
  if (e instanceof Error) {
    for (const [name, kind] of FOREIGN) if (e.name === name) return kind;
  }
  return "internal";
}

/**
 * The level at which a failure of this kind is logged where it ends (a request, a pod event, a
 * start). What others send us wrongly, and what will pass, is a warning; what an operator or a
 * developer must fix is an error.
 */
export function logLevelFor(kind: ErrorKind): "info" | "warn" | "error" {
  switch (kind) {
    case "invalid-input":
    case "too-large":
    case "unavailable":
    case "conflict":
      return "warn";
    case "not-found":
      return "info";
    case "config":
    case "system":
    case "internal":
      return "error";
  }
}
