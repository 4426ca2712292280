/**
 * The Weave-compatible IPAM HTTP API, a thin adapter over the domain API (service.ts): parse and
 * validate the request, call, map the outcome to a status code and body.
 *
 * Allocation key: `ifname` is an optional query parameter (`POST /ip/{id}?ifname=eth0`); without
 * it the key is (id, ""), Weave's behaviour, and `DELETE /ip/{id}` releases every interface.
 */
import { z } from "zod";
import type { Cidr } from "../addr/mod.ts";
import { cidrSize, formatCidr, formatIPv4, parseCidr } from "../addr/mod.ts";
import { describeCause } from "../cause.ts";
import {
  type ApiRoute,
  errorResponse,
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

/** The IPAM routes of the daemon's HTTP API. */
export function ipamRoutes(svc: IpamService): ApiRoute[] {
  const fmt = (ip: number) => `${formatIPv4(ip)}/${svc.range.prefix}`;
  const guard =
    (fn: (req: Request, p: Params) => Promise<Response> | Response) =>
    async (req: Request, p: Params): Promise<Response> => {
      try {
        return await fn(req, p);
      } catch (e) {
        if (e instanceof IpamUnavailable) return errorResponse(503, e.message);
        if (e instanceof StoreError) return errorResponse(500, e.message);
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
    return answer(await svc.allocate(key, subnet), fmt);
  };

  const claim = async (req: Request, p: Params) => {
    const key = keyOf(req, p);
    if ("error" in key) return errorResponse(400, key.error);
    const c = cidrOf(p.ip, p.len);
    if ("error" in c) return errorResponse(400, c.error);
    return answer(await svc.claim(key, c.ip), fmt);
  };

  const lookup = (req: Request, p: Params) => {
    const key = keyOf(req, p);
    if ("error" in key) return errorResponse(400, key.error);
    const found = hasIfname(req) ? svc.lookup(key) : svc.allocations().find((a) => a.id === key.id);
    if (!found) return errorResponse(404, `no addresses for container ${key.id}`);
    return textResponse(fmt(found.ip));
  };

  const release = async (req: Request, p: Params) => {
    const key = keyOf(req, p);
    if ("error" in key) return errorResponse(400, key.error);
    await svc.release(hasIfname(req) ? [key] : { id: key.id });
    return new Response(null, { status: 204 });
  };

  const list = () =>
    jsonResponse(svc.allocations().map((a) => ({ id: a.id, ifname: a.ifname, ip: fmt(a.ip) })));

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
      released: released.map((a) => ({ id: a.id, ifname: a.ifname, ip: fmt(a.ip) })),
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

  return [
    { method: "POST", path: "/ip/:id", handle: guard(allocate) },
    { method: "POST", path: "/ip/:id/:ip/:len", handle: guard(allocate) },
    { method: "PUT", path: "/ip/:id/:ip/:len", handle: guard(claim) },
    { method: "GET", path: "/ip/:id", handle: guard(lookup) },
    { method: "DELETE", path: "/ip/:id", handle: guard(release) },
    { method: "GET", path: "/ip", handle: guard(list) },
    { method: "POST", path: "/ipam/gc", handle: guard(gc) },
    {
      method: "GET",
      path: "/ipinfo/defaultsubnet",
      handle: () => textResponse(formatCidr(svc.range)),
    },
    { method: "DELETE", path: "/peer/:name", handle: guard(rmpeer) },
    { method: "GET", path: "/status/ipam", handle: guard(status) },
  ];
}

function answer(r: Outcome, fmt: (ip: number) => string): Response {
  if (r.ok) return textResponse(fmt(r.ip));
  if ("wait" in r) return errorResponse(503, r.wait);
  return errorResponse(r.status, r.error);
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
