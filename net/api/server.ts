/**
 * The daemon's HTTP server: routes contributed by components (ApiRoute), matched with URLPattern,
 * on loopback TCP or on a Unix socket (Weave's --http-addr with an absolute path). Who may call a
 * route is decided by access.ts: on TCP the kernel is asked which user owns the client's socket
 * (net/linux/sock_diag.ts); the Unix socket is root-only by its file mode (0600, created in a
 * private directory and moved into place, so it is never reachable with a wider mode).
 * Request bodies are bounded; unknown paths get 404, known paths with another method 405, and a
 * handler that throws gets a 500 with a log line (the daemon keeps running).
 */
import { describeCause } from "../cause.ts";
import { kindOf, logLevelFor, WeavetsError } from "../errors.ts";
import { SockDiag, type TcpEndpoint } from "../linux/sock_diag.ts";
import type { Logger } from "../log.ts";
import { type Caller, isLoopback, refuse } from "./access.ts";
import { parseListenAddress } from "./listen_address.ts";
import { type ApiRoute, errorResponse, failureResponse, routeAccess } from "./route.ts";

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export interface ApiServerOptions {
  /** "IPV4:PORT", or the absolute path of a Unix socket. */
  addr: string;
  routes: ApiRoute[];
  log: Logger;
  maxBodyBytes?: number;
  /**
   * The uid owning the TCP socket `client` → `server` (a client on this node), or null. Default:
   * the kernel's answer through sock_diag.
   */
  socketOwner?: (client: TcpEndpoint, server: TcpEndpoint) => number | null;
}

export interface ApiServer {
  /** The bound address (the actual port when 0 was asked for). */
  readonly addr: Deno.NetAddr | Deno.UnixAddr;
  /**
   * Answers `req` in this process as the server would answer root (the daemon's own code, e.g.
   * the CNI server's IPAM calls), without a connection: no loopback round trip, no socket-owner
   * lookup, no wake-ups of the HTTP threads.
   */
  dispatch(req: Request): Promise<Response>;
  shutdown(): Promise<void>;
}

interface Compiled {
  route: ApiRoute;
  pattern: URLPattern;
}

/** Starts serving; throws (e.g. Deno.errors.AddrInUse) when the address cannot be bound. */
export function startApiServer(opts: ApiServerOptions): ApiServer {
  const where = parseListenAddress(opts.addr);
  const compiled: Compiled[] = [];
  const seen = new Set<string>();
  for (const route of opts.routes) {
    const key = `${route.method} ${route.path}`;
    if (seen.has(key)) throw new Error(`API route registered twice: ${key}`);
    seen.add(key);
    compiled.push({ route, pattern: new URLPattern({ pathname: route.path }) });
  }
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const dispatch = (req: Request) =>
    handle(req, compiled, () => ({ transport: "unix" }), maxBody, opts.log);
  if (where.transport === "unix") {
    const tmp = privateSocketPath(where.path);
    const server = Deno.serve(
      { path: tmp.path, onListen: () => {} },
      (req) => handle(req, compiled, () => ({ transport: "unix" }), maxBody, opts.log),
    );
    try {
      Deno.chmodSync(tmp.path, 0o600);
      Deno.renameSync(tmp.path, where.path);
    } finally {
      Deno.removeSync(tmp.dir, { recursive: true });
    }
    return {
      addr: { transport: "unix", path: where.path },
      dispatch,
      shutdown: async () => {
        await server.shutdown();
        try {
          Deno.removeSync(where.path);
        } catch {
          // already gone: nothing to clean up
        }
      },
    };
  }
  let diag: SockDiag | null = null;
  const owner = opts.socketOwner ?? ((client: TcpEndpoint, srv: TcpEndpoint) => {
    diag ??= new SockDiag();
    return diag.tcpOwner(client, srv)?.uid ?? null;
  });
  const server = Deno.serve(
    { hostname: where.hostname, port: where.port, onListen: () => {} },
    (req, info) => {
      const remote = info.remoteAddr as Deno.NetAddr;
      const caller = (): Caller => {
        const loopback = isLoopback(remote.hostname);
        if (!loopback) return { transport: "tcp", loopback, uid: null };
        // The client connected to the address we listen on; on 0.0.0.0, loopback clients use a
        // loopback address (their own, or 127.0.0.1).
        const local = where.hostname === "0.0.0.0" ? remote.hostname : where.hostname;
        const client = { ip: remote.hostname, port: remote.port };
        try {
          let uid = owner(client, { ip: local, port: server.addr.port });
          if (uid === null && local !== "127.0.0.1" && where.hostname === "0.0.0.0") {
            uid = owner(client, { ip: "127.0.0.1", port: server.addr.port });
          }
          return { transport: "tcp", loopback, uid };
        } catch (e) {
          opts.log.warn("cannot tell who owns an API client's socket", { error: describeCause(e) });
          return { transport: "tcp", loopback, uid: null };
        }
      };
      return handle(req, compiled, caller, maxBody, opts.log);
    },
  );
  return {
    addr: server.addr,
    dispatch,
    shutdown: async () => {
      await server.shutdown();
      diag?.close();
    },
  };
}

/**
 * A path for the socket in a fresh 0700 directory beside `path` (so that the rename into place
 * stays on one file system). A socket file left at `path` by a daemon that died is replaced by
 * the rename; a live daemon cannot be there: it would hold the mesh port this one just bound.
 */
function privateSocketPath(path: string): { dir: string; path: string } {
  const parent = path.slice(0, path.lastIndexOf("/")) || "/";
  Deno.mkdirSync(parent, { recursive: true, mode: 0o700 });
  const dir = Deno.makeTempDirSync({ dir: parent, prefix: ".weavets-api-" });
  return { dir, path: `${dir}/api.sock` };
}

async function handle(
  req: Request,
  routes: Compiled[],
  caller: () => Caller,
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
    const refused = refuse(
      routeAccess(route),
      { method: req.method, path: url.pathname, headers: req.headers },
      caller,
      Deno.uid() ?? 0,
      route.bodyTypes,
    );
    if (refused) return errorResponse(refused.status, refused.reason);
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(m.pathname.groups)) if (v !== undefined) params[k] = v;
    let bounded: Request;
    try {
      bounded = await boundBody(req, maxBody);
    } catch (e) {
      if (kindOf(e) === "too-large") return failureResponse(e);
      return errorResponse(400, `cannot read request body: ${describeCause(e)}`);
    }
    try {
      return await route.handle(bounded, params);
    } catch (e) {
      log[logLevelFor(kindOf(e))]("API handler failed", {
        method: req.method,
        path: url.pathname,
        error: describeCause(e),
      });
      return failureResponse(e);
    }
  }
  return pathMatched
    ? errorResponse(405, `method ${req.method} not allowed on ${url.pathname}`)
    : errorResponse(404, `no such endpoint: ${url.pathname}`);
}

/** The request with its body read into memory, refusing bodies over `max` bytes. */
async function boundBody(req: Request, max: number): Promise<Request> {
  if (req.body === null) return req;
  const declared = Number(req.headers.get("content-length") ?? "0");
  const tooLarge = `request body exceeds ${max} bytes`;
  if (declared > max) throw new WeavetsError("too-large", tooLarge);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw new WeavetsError("too-large", tooLarge);
    }
    chunks.push(value);
  }
  const body = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) body.set(c, o), (o += c.length);
  return new Request(req.url, { method: req.method, headers: req.headers, body });
}
