/**
 * The daemon's HTTP server: routes contributed by components (ApiRoute), matched with URLPattern.
 * Request bodies are bounded; unknown paths get 404, known paths with another method 405, and a
 * handler that throws gets a 500 with a log line (the daemon keeps running).
 */
import type { Logger } from "../log.ts";
import { type ApiRoute, errorResponse } from "./route.ts";

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export class ListenAddressError extends Error {
  override name = "ListenAddressError";
}

/** "host:port" with an IPv4 host (or empty for all addresses) and a port 0..65535. */
export function parseListenAddress(text: string): { hostname: string; port: number } {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})?:(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  const octetsOk = !m?.[1] ||
    m[1].split(".").every((o) => Number(o) <= 255 && String(Number(o)) === o);
  if (!m || port > 65535 || !octetsOk) {
    throw new ListenAddressError(
      `invalid listen address "${text}": expected IPV4:PORT, e.g. 127.0.0.1:6784`,
    );
  }
  return { hostname: m[1] ?? "0.0.0.0", port };
}

export interface ApiServerOptions {
  addr: string;
  routes: ApiRoute[];
  log: Logger;
  maxBodyBytes?: number;
}

export interface ApiServer {
  /** The bound address (the actual port when 0 was asked for). */
  readonly addr: Deno.NetAddr;
  shutdown(): Promise<void>;
}

interface Compiled {
  route: ApiRoute;
  pattern: URLPattern;
}

/** Starts serving; throws (e.g. Deno.errors.AddrInUse) when the address cannot be bound. */
export function startApiServer(opts: ApiServerOptions): ApiServer {
  const { hostname, port } = parseListenAddress(opts.addr);
  const compiled: Compiled[] = [];
  const seen = new Set<string>();
  for (const route of opts.routes) {
    const key = `${route.method} ${route.path}`;
    if (seen.has(key)) throw new Error(`API route registered twice: ${key}`);
    seen.add(key);
    compiled.push({ route, pattern: new URLPattern({ pathname: route.path }) });
  }
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const handler = (req: Request) => handle(req, compiled, maxBody, opts.log);
  const server = Deno.serve({ hostname, port, onListen: () => {} }, handler);
  return {
    addr: server.addr,
    shutdown: () => server.shutdown(),
  };
}

async function handle(
  req: Request,
  routes: Compiled[],
  maxBody: number,
  log: Logger,
): Promise<Response> {
  const url = new URL(req.url);
  let pathMatched = false;
  for (const { route, pattern } of routes) {
    const m = pattern.exec({ pathname: url.pathname });
    if (!m) continue;
    pathMatched = true;
    if (route.method !== req.method && !(req.method === "HEAD" && route.method === "GET")) continue;
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(m.pathname.groups)) if (v !== undefined) params[k] = v;
    let bounded: Request;
    try {
      bounded = await boundBody(req, maxBody);
    } catch (e) {
      if (e instanceof BodyTooLarge) return errorResponse(413, e.message);
      return errorResponse(400, `cannot read request body: ${(e as Error).message}`);
    }
    try {
      return await route.handle(bounded, params);
    } catch (e) {
      log.error("API handler failed", {
        method: req.method,
        path: url.pathname,
        error: (e as Error).message ?? String(e),
      });
      return errorResponse(500, `internal error: ${(e as Error).message ?? e}`);
    }
  }
  return pathMatched
    ? errorResponse(405, `method ${req.method} not allowed on ${url.pathname}`)
    : errorResponse(404, `no such endpoint: ${url.pathname}`);
}

class BodyTooLarge extends Error {}

/** The request with its body read into memory, refusing bodies over `max` bytes. */
async function boundBody(req: Request, max: number): Promise<Request> {
  if (req.body === null) return req;
  const declared = Number(req.headers.get("content-length") ?? "0");
  const tooLarge = `request body exceeds ${max} bytes`;
  if (declared > max) throw new BodyTooLarge(tooLarge);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLarge(tooLarge);
    }
    chunks.push(value);
  }
  const body = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) body.set(c, o), (o += c.length);
  return new Request(req.url, { method: req.method, headers: req.headers, body });
}
