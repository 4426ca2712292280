/** Talking to the local daemon's HTTP API from the diagnostic commands. */
import { describeCause } from "../net/cause.ts";
import { parseListenAddress } from "../net/api/listen_address.ts";
import { UsageError } from "./command.ts";
import { WeavetsError } from "../net/errors.ts";

export const DEFAULT_HTTP_ADDR = "127.0.0.1:6784";

export class DaemonUnreachable extends WeavetsError {
  override name = "DaemonUnreachable";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("unavailable", message, opts);
  }
}

/** The API address: --http-addr, else WEAVE_HTTP_ADDR, else the default; validated. */
export function httpAddr(flag: string | undefined, env: string | undefined): string {
  const [source, value] = flag !== undefined
    ? ["--http-addr", flag]
    : env
    ? ["WEAVE_HTTP_ADDR", env]
    : ["default", DEFAULT_HTTP_ADDR];
  try {
    const a = parseListenAddress(value);
    if (a.transport === "unix") return a.path;
    // A daemon listening on all addresses is reached on loopback.
    return `${a.hostname === "0.0.0.0" ? "127.0.0.1" : a.hostname}:${a.port}`;
  } catch (e) {
    throw new UsageError(`${source}: ${describeCause(e)}`);
  }
}

export interface ApiAnswer {
  status: number;
  body: string;
}

/** Asks the daemon (`method` `path`, default GET); throws DaemonUnreachable when nothing answers. */
export async function callDaemon(
  addr: string,
  path: string,
  opts: {
    json?: boolean;
    method?: "GET" | "POST" | "DELETE";
    /** Sent as application/json. */
    body?: unknown;
    timeoutMs?: number;
  } = {},
): Promise<ApiAnswer> {
  // A Unix socket (an absolute path, as Weave's --http-addr allows) is reached through a client
  // that connects there; the URL's host is then only a name.
  const unix = addr.startsWith("/");
  const url = unix ? `http://weavets${path}` : `http://${addr}${path}`;
  const client = unix ? Deno.createHttpClient({ proxy: { transport: "unix", path: addr } }) : null;
  try {
    const r = await fetch(url, {
      method: opts.method ?? "GET",
      headers: {
        accept: opts.json ? "application/json" : "text/plain",
        ...(opts.body !== undefined ? { "content-type": "application/json" } : {}),
      },
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 5_000),
      ...(client ? { client } : {}),
    });
    return { status: r.status, body: await r.text() };
  } catch (e) {
    const err = e as Error & { cause?: Error };
    const why = (err.cause?.message ?? err.message).split(": ").pop();
    throw new DaemonUnreachable(
      `cannot reach the weavets daemon at ${unix ? addr : `http://${addr}`} (${why}): is it ` +
        "running? Use --http-addr if it listens elsewhere.",
    );
  } finally {
    client?.close();
  }
}

/** Prints an answer: the body on stdout when OK, else on stderr. Returns the exit code. */
export function printAnswer(a: ApiAnswer, okStatuses: number[] = [200]): number {
  if (okStatuses.includes(a.status)) {
    Deno.stdout.writeSync(new TextEncoder().encode(a.body));
    return 0;
  }
  Deno.stderr.writeSync(new TextEncoder().encode(a.body));
  return 1;
}
