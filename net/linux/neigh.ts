/**
 * Neighbour (ARP/NDP) entries and bridge/VXLAN forwarding database (FDB) entries over
 * rtnetlink. FDB entries are neighbour messages of family AF_BRIDGE whose key is the MAC; on a
 * VXLAN device NDA_DST holds the remote VTEP the MAC lives behind.
 */

import { formatMac, parseMac } from "../addr/mod.ts";
import { invalid } from "./errors.ts";
import { formatIp, type IpBytes, parseIp } from "./ip.ts";
import { AF_BRIDGE, AF_INET, AF_INET6 } from "./libc.ts";
import { linkIndex } from "./link.ts";
import { asInvalid } from "./names.ts";
import {
  decodeAttrs,
  type Message,
  MessageEncoder,
  NLM_F_APPEND,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
} from "./netlink/codec.ts";
import * as R from "./netlink/rtnl.ts";
import { dump, dumpFlags, execute, requestFlags } from "./netlink/socket.ts";

export type NeighState =
  | "permanent"
  | "noarp"
  | "reachable"
  | "stale"
  | "delay"
  | "probe"
  | "failed"
  | "incomplete";

const STATES: Record<NeighState, number> = {
  incomplete: R.NUD_INCOMPLETE,
  reachable: R.NUD_REACHABLE,
  stale: R.NUD_STALE,
  delay: R.NUD_DELAY,
  probe: R.NUD_PROBE,
  failed: R.NUD_FAILED,
  noarp: R.NUD_NOARP,
  permanent: R.NUD_PERMANENT,
};

/** State bits as `ip -j neigh` prints them: ["PERMANENT"], ["NOARP","REACHABLE"]… */
export function stateNames(bits: number): string[] {
  return (Object.keys(STATES) as NeighState[])
    .filter((k) => (bits & STATES[k]) !== 0)
    .map((k) => k.toUpperCase());
}

export interface NeighSpec {
  dev: string | number;
  ip: string;
  /** Link-layer address; not needed to delete. */
  mac?: string;
  /** Default "permanent". */
  state?: NeighState;
}

export interface Neigh {
  /** Interface index. */
  dev: number;
  ip: string;
  mac?: string;
  /** NUD_* bits and their names. */
  stateBits: number;
  state: string[];
}

function ndmsg(family: number, index: number, state: number, flags: number): Uint8Array {
  const b = new Uint8Array(R.NDMSG_LEN);
  const v = new DataView(b.buffer);
  v.setUint8(0, family);
  v.setInt32(4, index, true);
  v.setUint16(8, state, true);
  v.setUint8(10, flags);
  return b;
}

function neighRequest(op: string, type: number, flags: number, n: NeighSpec, object: string) {
  const ip = asInvalid(op, object, () => parseIp(n.ip));
  const mac = n.mac === undefined ? undefined : asInvalid(op, object, () => parseMac(n.mac!));
  if (type === R.RTM_NEWNEIGH && !mac) throw invalid(op, object, "a neighbour entry needs a MAC");
  const state = STATES[n.state ?? "permanent"];
  if (state === undefined) throw invalid(op, object, `unknown neighbour state "${n.state}"`);
  const req = new MessageEncoder(type, flags);
  const index = linkIndex(n.dev, { op, object });
  req.raw(ndmsg(ip.family === 4 ? AF_INET : AF_INET6, index, state, 0));
  req.attr(R.NDA_DST, ip.bytes);
  if (mac) req.attr(R.NDA_LLADDR, mac);
  return req;
}

function devLabel(dev: string | number): string {
  return typeof dev === "number" ? `ifindex ${dev}` : dev;
}

/** Errors read 'add neighbour 10.1.0.9 on "eth0" failed: …'; `object` is the interface. */
function neighOp(verb: string, type: number, flags: number, n: NeighSpec): void {
  const op = `${verb} ${n.ip} on`;
  const object = devLabel(n.dev);
  execute(neighRequest(op, type, flags, n, object), { op, object });
}

/** Adds a neighbour entry (default permanent); EEXIST when one exists for that IP. */
export function addNeigh(n: NeighSpec): void {
  neighOp("add neighbour", R.RTM_NEWNEIGH, requestFlags(NLM_F_CREATE | NLM_F_EXCL), n);
}

export function replaceNeigh(n: NeighSpec): void {
  neighOp("replace neighbour", R.RTM_NEWNEIGH, requestFlags(NLM_F_CREATE | NLM_F_REPLACE), n);
}

/** Deletes the entry for `ip` on `dev`; ENOENT when there is none. */
export function deleteNeigh(n: NeighSpec): void {
  neighOp("delete neighbour", R.RTM_DELNEIGH, requestFlags(), n);
}

function decodeNdmsg(m: Message) {
  const p = m.payload;
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  return {
    family: v.getUint8(0),
    index: v.getInt32(4, true),
    state: v.getUint16(8, true),
    flags: v.getUint8(10),
    attrs: decodeAttrs(p, R.NDMSG_LEN),
  };
}

function neighFrom(h: ReturnType<typeof decodeNdmsg>): Neigh {
  const dst = h.attrs.get(R.NDA_DST);
  const ll = h.attrs.get(R.NDA_LLADDR);
  const n: Neigh = {
    dev: h.index,
    ip: dst ? formatIp(dst) : "",
    stateBits: h.state,
    state: stateNames(h.state),
  };
  if (ll?.length === 6) n.mac = formatMac(ll);
  return n;
}

export function decodeNeigh(m: Message): Neigh {
  return neighFrom(decodeNdmsg(m));
}

/** IPv4 and IPv6 neighbour entries, optionally of one device. */
export function listNeigh(dev?: string | number): Neigh[] {
  const index = dev === undefined ? undefined : linkIndex(dev, { op: "list neighbours" });
  const req = new MessageEncoder(R.RTM_GETNEIGH, dumpFlags()).raw(ndmsg(0, 0, 0, 0));
  return dump(req, { op: "list neighbours" })
    .filter((m) => m.type === R.RTM_NEWNEIGH)
    .map(decodeNdmsg)
    .filter((h) => h.family === AF_INET || h.family === AF_INET6)
    .filter((h) => index === undefined || h.index === index)
    .map(neighFrom);
}

export interface FdbSpec {
  /** The bridge port or VXLAN device. */
  dev: string | number;
  mac: string;
  /** VXLAN: the remote VTEP IP this MAC is behind. */
  dst?: string;
  /** Program the master (bridge) FDB (NTF_MASTER). */
  master?: boolean;
  /** Program the device's own FDB (NTF_SELF); the default when neither is given. */
  self?: boolean;
  /** Permanent entry (default true); false makes it static (never aged, not local). */
  permanent?: boolean;
  /** VXLAN: override the device's VNI / destination port for this entry. */
  vni?: number;
  port?: number;
}

export interface FdbEntry {
  /** Interface index. */
  dev: number;
  mac: string;
  dst?: string;
  /** NDA_MASTER: the bridge the entry belongs to. */
  bridge?: number;
  vlan?: number;
  vni?: number;
  port?: number;
  self: boolean;
  master: boolean;
  permanent: boolean;
  stateBits: number;
  state: string[];
}

function fdbRequest(op: string, type: number, flags: number, f: FdbSpec, object: string) {
  const mac = asInvalid(op, object, () => parseMac(f.mac));
  let dst: IpBytes | undefined;
  if (f.dst !== undefined) dst = asInvalid(op, object, () => parseIp(f.dst!));
  if (f.vni !== undefined && (!Number.isInteger(f.vni) || f.vni < 0 || f.vni > 0xffffff)) {
    throw invalid(op, object, `VNI ${f.vni} is outside 0..16777215`);
  }
  if (f.port !== undefined && (!Number.isInteger(f.port) || f.port < 1 || f.port > 65535)) {
    throw invalid(op, object, `UDP port ${f.port} is outside 1..65535`);
  }
  // As `bridge fdb` does: self unless told master; permanent unless told otherwise.
  let ntf = (f.master ? R.NTF_MASTER : 0) | (f.self ? R.NTF_SELF : 0);
  if (ntf === 0) ntf = R.NTF_SELF;
  const state = R.NUD_NOARP | (f.permanent === false ? R.NUD_REACHABLE : R.NUD_PERMANENT);
  const req = new MessageEncoder(type, flags);
  req.raw(ndmsg(AF_BRIDGE, linkIndex(f.dev, { op, object }), state, ntf));
  req.attr(R.NDA_LLADDR, mac);
  if (dst) req.attr(R.NDA_DST, dst.bytes);
  if (f.port !== undefined) req.u16be(R.NDA_PORT, f.port);
  if (f.vni !== undefined) req.u32(R.NDA_VNI, f.vni);
  return req;
}

/** Errors read 'add fdb entry 02:… dst 192.168.1.1 on "vx0" failed: …'. */
function fdbOp(verb: string, type: number, flags: number, f: FdbSpec): void {
  const op = f.dst === undefined ? `${verb} ${f.mac} on` : `${verb} ${f.mac} dst ${f.dst} on`;
  const object = devLabel(f.dev);
  execute(fdbRequest(op, type, flags, f, object), { op, object });
}

/** Adds an FDB entry; EEXIST when the MAC is already there. */
export function addFdb(f: FdbSpec): void {
  fdbOp("add fdb entry", R.RTM_NEWNEIGH, requestFlags(NLM_F_CREATE | NLM_F_EXCL), f);
}

/** Adds or replaces the entry for the MAC (VXLAN: replaces the remote of its first entry). */
export function replaceFdb(f: FdbSpec): void {
  fdbOp("replace fdb entry", R.RTM_NEWNEIGH, requestFlags(NLM_F_CREATE | NLM_F_REPLACE), f);
}

/** VXLAN: adds another remote for the MAC (e.g. 00:00:00:00:00:00 flooding to every peer). */
export function appendFdb(f: FdbSpec): void {
  fdbOp("append fdb entry", R.RTM_NEWNEIGH, requestFlags(NLM_F_CREATE | NLM_F_APPEND), f);
}

/** Deletes an FDB entry (VXLAN: the remote given by `dst`, or all of them without it). */
export function deleteFdb(f: FdbSpec): void {
  fdbOp("delete fdb entry", R.RTM_DELNEIGH, requestFlags(), f);
}

export function decodeFdb(m: Message): FdbEntry {
  const h = decodeNdmsg(m);
  const a = h.attrs;
  const ll = a.get(R.NDA_LLADDR);
  const e: FdbEntry = {
    dev: h.index,
    mac: ll?.length === 6 ? formatMac(ll) : "",
    self: (h.flags & R.NTF_SELF) !== 0,
    master: (h.flags & R.NTF_MASTER) !== 0,
    permanent: (h.state & R.NUD_PERMANENT) !== 0,
    stateBits: h.state,
    state: stateNames(h.state),
  };
  const dst = a.get(R.NDA_DST);
  if (dst) e.dst = formatIp(dst);
  const bridge = a.u32(R.NDA_MASTER);
  if (bridge !== undefined) e.bridge = bridge;
  const vlan = a.u16(R.NDA_VLAN);
  if (vlan !== undefined) e.vlan = vlan;
  const vni = a.u32(R.NDA_VNI);
  if (vni !== undefined) e.vni = vni;
  const port = a.u16be(R.NDA_PORT);
  if (port !== undefined) e.port = port;
  return e;
}

/** Bridge and VXLAN FDB entries, optionally of one device. */
export function listFdb(dev?: string | number): FdbEntry[] {
  const index = dev === undefined ? undefined : linkIndex(dev, { op: "list fdb" });
  const req = new MessageEncoder(R.RTM_GETNEIGH, dumpFlags()).raw(ndmsg(AF_BRIDGE, 0, 0, 0));
  return dump(req, { op: "list fdb" })
    .filter((m) => m.type === R.RTM_NEWNEIGH)
    .map(decodeFdb)
    .filter((e) => index === undefined || e.dev === index);
}
