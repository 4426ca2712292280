/**
 * The Weave-compatible IPAM HTTP API, a thin adapter over the domain API (service.ts): parse and
 * validate the request, call, map the outcome to a status code and body.
 *
 * Allocation key: `ifname` is an optional query parameter (`POST /ip/{id}?ifname=eth0`); without
 * it the key is (id, ""), Weave's behaviour, and `DELETE /ip/{id}` releases every interface.
 */
import { z } from "zod";
import type { Cidr } from "../addr/mod.ts";
import {
  cidrContains,
  cidrSize,
  formatCidr,
  formatIPv4,
  parseCidr,
  parseIPv4,
} from "../addr/mod.ts";
import { describeCause } from "../cause.ts";
import {
  type ApiRoute,
  errorResponse,
  failureResponse,
  jsonResponse,
  textResponse,
  wantsJson,
} from "../api/route.ts";
import { type IpamService, IpamUnavailable } from "./service.ts";
import { ipamStatusText } from "./status_text.ts";
import { StoreError } from "./store.ts";
import type { Allocation, AllocKey, Outcome } from "./types.ts";

const ID = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,254}$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const PEER = /^[A-Za-z0-9:._-]{1,64}$/;

const gcBody = z.object({
  ids: z.array(
    z.union([
      z.string().regex(ID),
      z.object({ id: z.string().regex(ID), ifname: z.string().regex(IFNAME) }),
    ]),
  ).max(100_000),
});

type Params = Record<string, string>;

/**
 * The IPAM routes of the daemon's HTTP API. Bodies, status codes and the address formats are
 * Weave Net 2.8.1's (ipam/http.go): an address is "a.b.c.d/len" with the prefix length of the
 * range, or of the subnet asked for; several are separated by spaces; errors are 400 with the
 * reason, except a wait that ran out (503: retry later) and a store that cannot be written (500).
 */
export function ipamRoutes(svc: IpamService): ApiRoute[] {
  const cidr = (ip: number, prefix = svc.range.prefix) => `${formatIPv4(ip)}/${prefix}`;
  const guard =
    (fn: (req: Request, p: Params) => Promise<Response> | Response) =>
    async (req: Request, p: Params): Promise<Response> => {
      try {
        return await fn(req, p);
      } catch (e) {
        // Expected failures (not started, no range yet, a store that cannot be written) are
        // answered by their kind (IpamUnavailable 503, StoreError 500) without the server's log
        // line: the service logs its own.
        if (e instanceof IpamUnavailable || e instanceof StoreError) return failureResponse(e);
        throw e;
      }
    };

  const allocate = async (req: Request, p: Params) => {
    const key = keyOf(req, p);
    if ("error" in key) return errorResponse(400, key.error);
    let subnet: Cidr | undefined;
    if (p.ip !== undefined) {
      const c = cidrOf(p.ip, p.len);
      if ("error" in c) return errorResponse(400, c.error);
      subnet = c;
    }
    const r = await svc.allocate(key, subnet);
    return r.ok ? plain(cidr(r.ip, (subnet ?? svc.defaultSubnet).prefix)) : refusal(r);
  };

  const claim = async (req: Request, p: Params) => {
    const key = keyOf(req, p);
    if ("error" in key) return errorResponse(400, key.error);
    const c = cidrOf(p.ip, p.len);
    if ("error" in c) return errorResponse(400, `Unable to claim: ${c.error}`);
    const r = await svc.claim(key, c.ip);
    return r.ok ? new Response(null, { status: 204 }) : refusal(r, "Unable to claim: ");
  };

  /** GET /ip/{id}[/{ip}/{len}]: every address of the container (or of one interface). */
  const lookup = (req: Request, p: Params) => {
    const key = keyOf(req, p);
    if ("error" in key) return errorResponse(400, key.error);
    let within: Cidr | undefined;
    if (p.ip !== undefined) {
      const c = cidrOf(p.ip, p.len);
      if ("error" in c) return errorResponse(400, c.error);
      within = c;
    }
    const found = svc.allocations().filter((a) =>
      a.id === key.id && (!hasIfname(req) || a.ifname === key.ifname) &&
      (!within || cidrContains(within, a.ip))
    );
    if (found.length === 0) return errorResponse(404, `no addresses for container ${key.id}`);
    return plain(found.map((a) => cidr(a.ip, within?.prefix)).join(" "));
  };

  /**
   * DELETE /ip/{id}: with `ifname`, that interface's address, and nothing to release is fine (a
   * CNI DEL may repeat); without, every address of the container, and none is Weave's 400.
   */
  const release = async (req: Request, p: Params) => {
    const key = keyOf(req, p);
    if ("error" in key) return errorResponse(400, key.error);
    if (hasIfname(req)) {
      await svc.release([key]);
      return new Response(null, { status: 204 });
    }
    const gone = await svc.release({ id: key.id });
    if (gone.length === 0) return errorResponse(400, `Delete: no addresses for ${key.id}`);
    return new Response(null, { status: 204 });
  };

  /** DELETE /ip/{id}/{ip}: one address of a container (Weave's `weave detach`). */
  const free = async (req: Request, p: Params) => {
    const key = keyOf(req, p);
    if ("error" in key) return errorResponse(400, key.error);
    let ip: number;
    try {
      ip = parseIPv4(decode(p.ip));
    } catch (e) {
      return errorResponse(400, describeCause(e));
    }
    const gone = await svc.release({ id: key.id, ip });
    if (gone.length === 0) {
      return errorResponse(
        400,
        `Unable to free: Free: address ${formatIPv4(ip)} not found for ${key.id}`,
      );
    }
    return new Response(null, { status: 204 });
  };

  const list = () =>
    jsonResponse(svc.allocations().map((a) => ({ id: a.id, ifname: a.ifname, ip: cidr(a.ip) })));

  const gc = async (req: Request) => {
    let body;
    try {
      body = gcBody.parse(JSON.parse(await req.text()));
    } catch {
      return errorResponse(
        400,
        'body must be JSON {"ids": ["<container id>" | {"id": ..., "ifname": ...}, ...]}',
      );
    }
    const ids = new Set<string>(), keys = new Set<string>();
    for (const x of body.ids) {
      if (typeof x === "string") ids.add(x);
      else keys.add(`${x.id} ${x.ifname}`);
    }
    const released: Allocation[] = await svc.gc(ids, keys);
    return jsonResponse({
      released: released.map((a) => ({ id: a.id, ifname: a.ifname, ip: cidr(a.ip) })),
    });
  };

  const rmpeer = (_req: Request, p: Params) => {
    const name = decode(p.name);
    if (!PEER.test(name)) return errorResponse(400, `invalid peer name "${name.slice(0, 80)}"`);
    const r = svc.removePeer(name);
    if (!r.ok) return errorResponse(r.status, r.error);
    return textResponse(`${r.taken} IPs taken over from ${name}`);
  };

  const status = (req: Request) =>
    wantsJson(req)
      ? jsonResponse(svc.view() ?? {})
      : textResponse(ipamStatusText(svc.view(), cidrSize(svc.range)));

  // The allocation table names every workload on the node: root only, like the changes.
  return [
    { method: "POST", path: "/ip/:id", handle: guard(allocate) },
    { method: "POST", path: "/ip/:id/:ip/:len", handle: guard(allocate) },
    { method: "PUT", path: "/ip/:id/:ip/:len", handle: guard(claim) },
    { method: "GET", path: "/ip/:id", access: "root", handle: guard(lookup) },
    { method: "GET", path: "/ip/:id/:ip/:len", access: "root", handle: guard(lookup) },
    { method: "DELETE", path: "/ip/:id", handle: guard(release) },
    { method: "DELETE", path: "/ip/:id/:ip", handle: guard(free) },
    { method: "GET", path: "/ip", access: "root", handle: guard(list) },
    { method: "POST", path: "/ipam/gc", handle: guard(gc) },
    {
      method: "GET",
      path: "/ipinfo/defaultsubnet",
      handle: () => plain(formatCidr(svc.defaultSubnet)),
    },
    { method: "DELETE", path: "/peer/:name", handle: guard(rmpeer) },
    { method: "GET", path: "/status/ipam", handle: guard(status) },
  ];
}

/** A text body exactly as Weave writes it: no trailing newline. */
function plain(body: string): Response {
  return new Response(body, { headers: { "content-type": "text/plain; charset=utf-8" } });
}

/** A refusal or a wait that ran out, as an HTTP error (Weave: 400 with the reason). */
function refusal(r: Outcome & { ok: false }, prefix = ""): Response {
  if ("wait" in r) return errorResponse(503, r.wait);
  return errorResponse(400, prefix + r.error);
}

/** A path segment decoded; malformed escapes stay as they are (and then fail validation). */
function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function hasIfname(req: Request): boolean {
  return new URL(req.url).searchParams.has("ifname");
}

function keyOf(req: Request, p: Params): AllocKey | { error: string } {
  const id = decode(p.id ?? "");
  if (!ID.test(id)) {
    return { error: `invalid container id "${id.slice(0, 80)}": letters, digits and _.:@- only` };
  }
  const ifname = new URL(req.url).searchParams.get("ifname") ?? "";
  if (ifname !== "" && !IFNAME.test(ifname)) {
    return { error: `invalid interface name "${ifname.slice(0, 80)}"` };
  }
  return { id, ifname };
}

function cidrOf(ip: string, len: string): Cidr | { error: string } {
  try {
    return parseCidr(`${ip}/${len}`);
  } catch (e) {
    return { error: describeCause(e) };
  }
}
