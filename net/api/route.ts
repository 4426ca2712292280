/**
 * How components (mesh status, IPAM, data plane) contribute endpoints to the daemon's HTTP API
 * without knowing about the server. Paths use URLPattern pathname syntax ("/ip/:id").
 */
import type { Access } from "./access.ts";

export type Method = "GET" | "POST" | "PUT" | "DELETE";

export interface ApiRoute {
  method: Method;
  path: string;
  /**
   * Who may call it (net/api/access.ts). Default: "public" for GET, "root" for every method that
   * changes state; a GET that lists workloads sets "root".
   */
  access?: Access;
  /** Content types a body may have (default application/json; see access.ts). */
  bodyTypes?: readonly string[];
  handle(req: Request, params: Record<string, string>): Response | Promise<Response>;
}

export function routeAccess(r: ApiRoute): Access {
  return r.access ?? (r.method === "GET" ? "public" : "root");
}

/** Plain-text or JSON by the Accept header, as Weave's API does (JSON for application/json). */
export function wantsJson(req: Request): boolean {
  return (req.headers.get("accept") ?? "").includes("application/json");
}

/** A one-line text error, the API's error shape (`4xx` + reason). */
export function errorResponse(status: number, reason: string): Response {
  return new Response(reason.endsWith("\n") ? reason : reason + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

export function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body, null, 2) + "\n", {
    status,
    headers: { "content-type": "application/json" },
  });
}

export function textResponse(body: string, status = 200): Response {
  return new Response(body.endsWith("\n") || body === "" ? body : body + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}
