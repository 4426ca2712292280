/**
 * Where an HTTP listener binds: "IPV4:PORT" (or ":PORT" for every address) over TCP, or, as Weave
 * accepts for --http-addr, an absolute path: a Unix socket (root-only, see server.ts). Pure.
 */
import { WeavetsError } from "../errors.ts";
export class ListenAddressError extends WeavetsError {
  override name = "ListenAddressError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("config", message, opts);
  }
}

export type ListenAddress =
  | { transport: "tcp"; hostname: string; port: number }
  | { transport: "unix"; path: string };

export function parseListenAddress(text: string): ListenAddress {
  if (text.startsWith("/")) {
    if (text.length > 107 || text.endsWith("/") || text.includes("\0")) {
      throw new ListenAddressError(
        `invalid socket path "${text}": an absolute file path of at most 107 bytes`,
      );
    }
    return { transport: "unix", path: text };
  }
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})?:(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  const octetsOk = !m?.[1] ||
    m[1].split(".").every((o) => Number(o) <= 255 && String(Number(o)) === o);
  if (!m || port > 65535 || !octetsOk) {
    throw new ListenAddressError(
      `invalid listen address "${text}": expected IPV4:PORT (e.g. 127.0.0.1:6784) or the ` +
        "absolute path of a Unix socket",
    );
  }
  return { transport: "tcp", hostname: m[1] ?? "0.0.0.0", port };
}
