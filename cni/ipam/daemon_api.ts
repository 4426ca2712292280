/**
 * The weavets daemon's HTTP API as the plugin reaches it: `host:port`, or an absolute path — a
 * Unix socket, as Weave Net's `--http-addr` / `WEAVE_HTTP_ADDR` allow (docs/API.md). Requests
 * that cannot reach it are error 11 (try again later), as are answers the daemon gives while it
 * is not ready (5xx).
 */
import { CniError, describeCause, ErrorCode } from "../errors.ts";

/** One HTTP client per socket, kept: the daemon serves many pod events through the same one. */
const unixClients = new Map<string, Deno.HttpClient>();

type Dispatch = (req: Request) => Promise<Response>;
/** The daemon's own API by the addresses it answers on, when this process is that daemon. */
const inProcess = new Map<string, Dispatch>();

/**
 * Makes calls to `addresses` from this process (the daemon serving pod events) go straight to
 * `dispatch`, the daemon's own API handler: same routes and answers, without the loopback HTTP
 * round trip (at 20 ADDs at once its wake-ups were the largest share of the daemon's time per
 * ADD). Returns the undo, for stopping.
 */
export function answerInProcess(addresses: string[], dispatch: Dispatch): () => void {
  for (const a of addresses) inProcess.set(a, dispatch);
  return () => {
    for (const a of addresses) if (inProcess.get(a) === dispatch) inProcess.delete(a);
  };
}

/** The addresses a plugin may name for an API listening on `addr` (host:port, or a path). */
export function addressesOf(addr: Deno.NetAddr | Deno.UnixAddr): string[] {
  if (!("hostname" in addr)) return [addr.path];
  const any = addr.hostname === "0.0.0.0";
  return [`${addr.hostname}:${addr.port}`, ...(any ? [`127.0.0.1:${addr.port}`] : [])];
}

/** fetch() against the daemon at `address` (host:port, or a Unix socket's absolute path). */
export function daemonFetch(
  address: string,
  path: string,
  init: RequestInit = {},
): Promise<Response> {
  const local = inProcess.get(address);
  if (local) return local(new Request(`http://localhost${path}`, init));
  if (!address.startsWith("/")) return fetch(`http://${address}${path}`, init);
  let client = unixClients.get(address);
  if (!client) {
    client = Deno.createHttpClient({ proxy: { transport: "unix", path: address } });
    unixClients.set(address, client);
  }
  return fetch(`http://localhost${path}`, { ...init, client });
}

/** How the address is shown in messages. */
export function shownAddress(address: string): string {
  return address.startsWith("/") ? `the Unix socket ${address}` : `http://${address}`;
}

/**
 * One request; `okStatus` lists non-2xx statuses that count as success (returning ""). `what`
 * says what the plugin was doing ("allocate an address"); `timeoutMs` bounds the wait.
 */
export async function daemonCall(
  address: string,
  req: { method: string; path: string; what: string; okStatus?: number[]; body?: string },
  timeoutMs: number,
): Promise<string> {
  let res: Response;
  try {
    res = await daemonFetch(address, req.path, {
      method: req.method,
      body: req.body,
      headers: req.body ? { "content-type": "application/json" } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    throw new CniError(
      ErrorCode.TryAgainLater,
      `cannot ${req.what}: the weavets daemon is not reachable at ${shownAddress(address)} (is ` +
        'it running? set WEAVE_HTTP_ADDR or "daemonAddress" if it listens elsewhere); try again ' +
        "later",
      describeCause(e),
    );
  }
  const text = await res.text();
  if (res.ok) return text;
  if (req.okStatus?.includes(res.status)) return "";
  throw new CniError(
    res.status >= 500 ? ErrorCode.TryAgainLater : ErrorCode.IOFailure,
    `cannot ${req.what}: the weavets daemon answered ${req.method} ${req.path} with ` +
      `${res.status}: ${text.trim() || res.statusText}`,
  );
}
