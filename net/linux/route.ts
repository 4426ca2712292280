/** Routes over rtnetlink: add, replace, delete, list (IPv4; IPv6 where given). */

import { invalid } from "./errors.ts";
import { formatIp, formatIpPrefix, type IpBytes, parseIp, parseIpPrefix } from "./ip.ts";
import { AF_INET, AF_INET6 } from "./libc.ts";
import { linkIndex } from "./link.ts";
import { asInvalid } from "./names.ts";
import {
  decodeAttrs,
  type Message,
  MessageEncoder,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
} from "./netlink/codec.ts";
import * as R from "./netlink/rtnl.ts";
import { dump, dumpFlags, execute, requestFlags } from "./netlink/socket.ts";

export type RouteScope = "universe" | "link" | "host";

export interface Route {
  /** Destination prefix; the default route is "0.0.0.0/0" (or "::/0"). */
  dst: string;
  gateway?: string;
  /** Output interface index. */
  dev?: number;
  scope?: RouteScope;
  onlink?: boolean;
  metric?: number;
  /** Routing table id (254 = main). */
  table?: number;
  /** Preferred source address. */
  src?: string;
  /** RTPROT_* (3 boot — what `ip route add` uses, 2 kernel, 4 static). */
  protocol?: number;
  /** RTN_* route type (1 unicast, 2 local, 3 broadcast, …). */
  type?: number;
}

/** A route to add/replace/delete: like Route, but `dev` may be a name; "default" is accepted as dst. */
export interface RouteSpec extends Omit<Route, "dev" | "type"> {
  dev?: string | number;
}

const SCOPES: Record<RouteScope, number> = {
  universe: R.RT_SCOPE_UNIVERSE,
  link: R.RT_SCOPE_LINK,
  host: R.RT_SCOPE_HOST,
};

function scopeName(n: number): RouteScope | undefined {
  return (Object.keys(SCOPES) as RouteScope[]).find((k) => SCOPES[k] === n);
}

function describe(r: RouteSpec): string {
  const parts = [r.dst];
  if (r.gateway) parts.push(`via ${r.gateway}`);
  if (r.dev !== undefined) parts.push(`dev ${r.dev}`);
  if (r.table !== undefined) parts.push(`table ${r.table}`);
  return parts.join(" ");
}

function routeRequest(op: string, type: number, flags: number, r: RouteSpec): MessageEncoder {
  const object = describe(r);
  const dst = asInvalid(op, object, () => parseIpPrefix(r.dst));
  let gw: IpBytes | undefined;
  if (r.gateway !== undefined) {
    gw = asInvalid(op, object, () => parseIp(r.gateway!));
    if (gw.family !== dst.family) {
      throw invalid(op, object, "gateway and destination families differ");
    }
  }
  let src: IpBytes | undefined;
  if (r.src !== undefined) {
    src = asInvalid(op, object, () => parseIp(r.src!));
    if (src.family !== dst.family) {
      throw invalid(op, object, "source and destination families differ");
    }
  }
  const table = r.table ?? R.RT_TABLE_MAIN;
  if (!Number.isInteger(table) || table < 1 || table > 0xffffffff) {
    throw invalid(op, object, `table ${table} must be a positive 32-bit integer`);
  }
  if (
    r.metric !== undefined && (!Number.isInteger(r.metric) || r.metric < 0 || r.metric > 0xffffffff)
  ) {
    throw invalid(op, object, `metric ${r.metric} must be a 32-bit unsigned integer`);
  }
  const dev = r.dev === undefined ? undefined : linkIndex(r.dev, { op, object });
  const isDelete = type === R.RTM_DELROUTE;
  // What `ip route` does: a route without a gateway is scope link; deletes match any scope,
  // protocol and type unless told otherwise.
  const scope = r.scope !== undefined
    ? SCOPES[r.scope]
    : isDelete
    ? R.RT_SCOPE_NOWHERE
    : gw
    ? R.RT_SCOPE_UNIVERSE
    : R.RT_SCOPE_LINK;
  const hdr = new Uint8Array(R.RTMSG_LEN);
  const v = new DataView(hdr.buffer);
  v.setUint8(0, dst.family === 4 ? AF_INET : AF_INET6);
  v.setUint8(1, dst.prefix);
  v.setUint8(4, table < 256 ? table : R.RT_TABLE_UNSPEC);
  v.setUint8(5, r.protocol ?? (isDelete ? 0 : R.RTPROT_BOOT));
  v.setUint8(6, scope);
  v.setUint8(7, isDelete ? 0 : R.RTN_UNICAST);
  v.setUint32(8, r.onlink ? R.RTNH_F_ONLINK : 0, true);
  const req = new MessageEncoder(type, flags).raw(hdr);
  if (dst.prefix > 0) req.attr(R.RTA_DST, dst.bytes);
  if (gw) req.attr(R.RTA_GATEWAY, gw.bytes);
  if (dev !== undefined) req.u32(R.RTA_OIF, dev);
  if (r.metric !== undefined) req.u32(R.RTA_PRIORITY, r.metric);
  if (src) req.attr(R.RTA_PREFSRC, src.bytes);
  req.u32(R.RTA_TABLE, table);
  return req;
}

/** Adds a route; EEXIST when one with the same destination/metric/table exists. */
export function addRoute(r: RouteSpec): void {
  const op = "add route";
  const req = routeRequest(op, R.RTM_NEWROUTE, requestFlags(NLM_F_CREATE | NLM_F_EXCL), r);
  execute(req, { op, object: describe(r) });
}

/** Adds the route or replaces the one with the same destination/metric/table. */
export function replaceRoute(r: RouteSpec): void {
  const op = "replace route";
  const req = routeRequest(op, R.RTM_NEWROUTE, requestFlags(NLM_F_CREATE | NLM_F_REPLACE), r);
  execute(req, { op, object: describe(r) });
}

/** Deletes the first route matching the given fields; ESRCH when none matches. */
export function deleteRoute(r: RouteSpec): void {
  const op = "delete route";
  execute(routeRequest(op, R.RTM_DELROUTE, requestFlags(), r), { op, object: describe(r) });
}

export function decodeRoute(m: Message): Route {
  const p = m.payload;
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const family = v.getUint8(0) === AF_INET6 ? 6 : 4;
  const a = decodeAttrs(p, R.RTMSG_LEN);
  const dst = a.get(R.RTA_DST) ?? new Uint8Array(family === 4 ? 4 : 16);
  const route: Route = {
    dst: formatIpPrefix(dst, v.getUint8(1)),
    table: a.u32(R.RTA_TABLE) ?? v.getUint8(4),
    protocol: v.getUint8(5),
    type: v.getUint8(7),
  };
  const gw = a.get(R.RTA_GATEWAY);
  if (gw) route.gateway = formatIp(gw);
  const oif = a.u32(R.RTA_OIF);
  if (oif !== undefined) route.dev = oif;
  const scope = scopeName(v.getUint8(6));
  if (scope) route.scope = scope;
  if (v.getUint32(8, true) & R.RTNH_F_ONLINK) route.onlink = true;
  const metric = a.u32(R.RTA_PRIORITY);
  if (metric !== undefined) route.metric = metric;
  const src = a.get(R.RTA_PREFSRC);
  if (src) route.src = formatIp(src);
  return route;
}

export interface ListRoutesOptions {
  /** Table to list; default 254 (main), 0 for every table. */
  table?: number;
  /** Address family; default 4. */
  family?: 4 | 6;
}

/** Routes of the current namespace (cached/cloned entries excluded). */
export function listRoutes(opts: ListRoutesOptions = {}): Route[] {
  const table = opts.table ?? R.RT_TABLE_MAIN;
  const hdr = new Uint8Array(R.RTMSG_LEN);
  hdr[0] = opts.family === 6 ? AF_INET6 : AF_INET;
  const req = new MessageEncoder(R.RTM_GETROUTE, dumpFlags()).raw(hdr);
  return dump(req, { op: "list routes" })
    .filter((m) => m.type === R.RTM_NEWROUTE)
    .filter((m) =>
      (new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(8, true) & R.RTM_F_CLONED) ===
        0
    )
    .map(decodeRoute)
    .filter((r) => table === 0 || r.table === table);
}
