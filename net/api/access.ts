/**
 * Who may call what on the daemon's HTTP API (docs/ARCHITECTURE.md, "Local API"). Pure: the
 * caller's identity comes in, a refusal (status and one line saying what to do) or null goes out.
 *
 * - "public" routes (reading status, metrics, reports) answer anyone who can connect; the TCP
 *   listener is on 127.0.0.1 by default and the data plane keeps other hosts off it.
 * - "root" routes (everything that changes state, and lists of workloads) answer only root on
 *   this node: over the Unix socket, whose file only root can open, or over loopback TCP from a
 *   client socket the kernel says was created by uid 0 (or by the daemon's own user).
 * - A root route refuses browser requests (an Origin header: a page open on the node must not
 *   drive the API) and a body that is not `application/json` (which a page cannot send across
 *   origins without asking first). Weave's POST /connect and /forget take a form body
 *   (`curl -d peer=...`) as Weave's did; a page's form post still carries an Origin header (the
 *   Fetch standard sends it on every POST), so the Origin check keeps pages out.
 */

export type Access = "public" | "root";

export type Caller =
  | { transport: "unix" }
  | {
    transport: "tcp";
    /** The client's address is a loopback address (127.0.0.0/8). */
    loopback: boolean;
    /** The uid that owns the client's socket; null when the kernel could not say. */
    uid: number | null;
  };

export interface RequestFacts {
  method: string;
  path: string;
  headers: Headers;
}

export interface Refusal {
  status: 403 | 415;
  reason: string;
}

export function isLoopback(ip: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip);
}

/**
 * Null when `caller` may make this request to a route with `access`; otherwise why not.
 * `caller` is a function so that the kernel is asked only for root routes.
 */
export function refuse(
  access: Access,
  req: RequestFacts,
  caller: () => Caller,
  daemonUid: number,
  bodyTypes: readonly string[] = [JSON_TYPE],
): Refusal | null {
  if (hasBody(req.headers) && !bodyTypes.includes(mediaType(req.headers))) {
    return {
      status: 415,
      reason: `${req.method} ${req.path}: the body must be sent as content-type ` +
        bodyTypes.join(" or "),
    };
  }
  if (access === "public") return null;
  const what = `${req.method} ${req.path} is allowed only for root on this node`;
  if (req.headers.has("origin")) {
    return { status: 403, reason: `${what}: refused from a web page (Origin header present)` };
  }
  const c = caller();
  if (c.transport === "unix") return null;
  if (!c.loopback) return { status: 403, reason: `${what}: refused from another host` };
  if (c.uid === 0 || c.uid === daemonUid) return null;
  return {
    status: 403,
    reason: c.uid === null
      ? `${what}, and the caller's user could not be determined; call it as root`
      : `${what} (the caller is uid ${c.uid}): run the command as root`,
  };
}

function hasBody(h: Headers): boolean {
  const len = h.get("content-length");
  return (len !== null && len !== "0") || h.has("transfer-encoding");
}

export const JSON_TYPE = "application/json";
export const FORM_TYPE = "application/x-www-form-urlencoded";

function mediaType(h: Headers): string {
  return (h.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
}
