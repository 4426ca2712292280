/**
 * How components (mesh status, IPAM, data plane) contribute endpoints to the daemon's HTTP API
 * without knowing about the server. Paths use URLPattern pathname syntax ("/ip/:id").
 */
import type { Access } from "./access.ts";
import { describeCause } from "../cause.ts";
import { type ErrorKind, kindOf } from "../errors.ts";

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

/**
 * The HTTP status of a failure of each kind (net/errors.ts): the one place the API maps errors.
 * Weave Net's API answers a bad request with 400 and the reason; the rest follow HTTP's meaning.
 */
export function httpStatusFor(kind: ErrorKind): number {
  switch (kind) {
    case "invalid-input":
      return 400;
    case "too-large":
      return 413;
    case "not-found":
      return 404;
    case "conflict":
      return 409;
    case "unavailable":
      return 503;
    case "config":
    case "system":
    case "internal":
      return 500;
  }
}

/**
 * The response for a failure a handler threw: its kind's status and its message; an unclassified
 * one (a bug) says "internal error".
 */
export function failureResponse(e: unknown): Response {
  const kind = kindOf(e);
  const text = describeCause(e);
  return errorResponse(httpStatusFor(kind), kind === "internal" ? `internal error: ${text}` : text);
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
