/** Network interfaces over rtnetlink: list, get, create (veth, bridge, dummy; vxlan in vxlan.ts), change. */

import { formatIPv4, formatMac, ipv4FromBytes, parseMac } from "../addr/mod.ts";
import { Errno } from "./errno.ts";
import { invalid, LinuxError } from "./errors.ts";
import { AF_BRIDGE, closeFd } from "./libc.ts";
import { asInvalid, checkIfName } from "./names.ts";
import { openNetnsFd } from "./netns.ts";
import {
  decodeAttrs,
  type Message,
  MessageEncoder,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REQUEST,
} from "./netlink/codec.ts";
import { dump, dumpFlags, execute, requestFlags } from "./netlink/socket.ts";
import * as R from "./netlink/rtnl.ts";

export interface Link {
  index: number;
  name: string;
  /** IFLA_INFO_KIND: "veth", "bridge", "vxlan", "dummy", "tun", …; absent for physical/lo. */
  kind?: string;
  mtu: number;
  /** "aa:bb:cc:dd:ee:ff"; "" for links without a hardware address. */
  mac: string;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** Index of the master (bridge) device. */
  master?: number;
  /** RFC 2863 operational state as `ip` prints it: "UP", "DOWN", "LOWERLAYERDOWN", "UNKNOWN"… */
  operState?: string;
  /** Netns id (in this namespace's view) of the peer's namespace, for a veth whose peer is elsewhere. */
  linkNetnsId?: number;
  /** IFLA_LINK: for a veth, the peer's index (in the peer's namespace, see linkNetnsId). */
  peerIndex?: number;
  /** Raw interface flags (IFF_*). */
  flags: number;
  gsoMaxSize?: number;
  /** For kind "vxlan": what the device was created with. */
  vxlan?: { vni: number; port: number; learning: boolean; local?: string };
}

const OPER_STATES = ["UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"];

/** The identifier used in error messages for a link given by name or index. */
function label(link: string | number): string {
  return typeof link === "number" ? `ifindex ${link}` : link;
}

function ifinfomsg(index = 0, opts: { family?: number; flags?: number; change?: number } = {}) {
  const b = new Uint8Array(R.IFINFOMSG_LEN);
  const v = new DataView(b.buffer);
  v.setUint8(0, opts.family ?? 0);
  v.setInt32(4, index, true);
  v.setUint32(8, opts.flags ?? 0, true);
  v.setUint32(12, opts.change ?? 0, true);
  return b;
}

function checkIndex(op: string, index: number): void {
  if (!Number.isInteger(index) || index <= 0 || index > 0x7fffffff) {
    throw invalid(op, String(index), "interface index must be a positive integer");
  }
}

/**
 * A request addressing an existing link: by index in the header, or by IFLA_IFNAME (the kernel
 * looks the name up and answers ENODEV when it is missing — one round trip, no race).
 */
function linkRequest(
  op: string,
  link: string | number,
  type = R.RTM_NEWLINK,
  header: { family?: number; flags?: number; change?: number } = {},
  nlFlags = requestFlags(),
): MessageEncoder {
  const req = new MessageEncoder(type, nlFlags);
  if (typeof link === "number") {
    checkIndex(op, link);
    req.raw(ifinfomsg(link, header));
  } else {
    checkIfName(op, link);
    req.raw(ifinfomsg(0, header)).str(R.IFLA_IFNAME, link);
  }
  return req;
}

function macBytes(op: string, object: string, mac: string): Uint8Array {
  return asInvalid(op, object, () => parseMac(mac));
}

function checkMtu(op: string, object: string, mtu: number): void {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw invalid(op, object, `MTU ${mtu} is outside 68..65535`);
  }
}

export function decodeLink(m: Message): Link {
  const v = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
  const index = v.getInt32(4, true);
  const flags = v.getUint32(8, true);
  const a = decodeAttrs(m.payload, R.IFINFOMSG_LEN);
  const info = a.nested(R.IFLA_LINKINFO);
  const addr = a.get(R.IFLA_ADDRESS);
  const link: Link = {
    index,
    name: a.str(R.IFLA_IFNAME) ?? "",
    mtu: a.u32(R.IFLA_MTU) ?? 0,
    mac: addr?.length === 6 ? formatMac(addr) : "",
    up: (flags & R.IFF_UP) !== 0,
    flags,
  };
  const kind = info.str(R.IFLA_INFO_KIND);
  if (kind) link.kind = kind;
  if (kind === "vxlan") {
    const d = info.nested(R.IFLA_INFO_DATA);
    const local = d.get(R.IFLA_VXLAN_LOCAL);
    link.vxlan = {
      vni: d.u32(R.IFLA_VXLAN_ID) ?? 0,
      port: d.u16be(R.IFLA_VXLAN_PORT) ?? 0,
      learning: (d.u8(R.IFLA_VXLAN_LEARNING) ?? 0) !== 0,
      ...(local?.length === 4 ? { local: formatIPv4(ipv4FromBytes(local)) } : {}),
    };
  }
  const master = a.u32(R.IFLA_MASTER);
  if (master) link.master = master;
  const oper = a.u8(R.IFLA_OPERSTATE);
  if (oper !== undefined) link.operState = OPER_STATES[oper] ?? `${oper}`;
  const nsid = a.i32(R.IFLA_LINK_NETNSID);
  if (nsid !== undefined) link.linkNetnsId = nsid;
  const peer = a.u32(R.IFLA_LINK);
  // A device's own index here means "no lower device", unless the peer is in another netns.
  if (peer && (peer !== index || nsid !== undefined)) link.peerIndex = peer;
  const gso = a.u32(R.IFLA_GSO_MAX_SIZE);
  if (gso !== undefined) link.gsoMaxSize = gso;
  return link;
}

/** Every link in the current namespace, by index. */
export function listLinks(): Link[] {
  const req = new MessageEncoder(R.RTM_GETLINK, dumpFlags()).raw(ifinfomsg());
  return dump(req, { op: "list links" })
    .filter((m) => m.type === R.RTM_NEWLINK)
    .map(decodeLink);
}

/** The link with this name or index; LinuxError ENODEV when there is none. */
export function getLink(nameOrIndex: string | number): Link {
  const op = "get link";
  // A plain get (no ACK): the kernel answers with one RTM_NEWLINK or an error.
  const req = linkRequest(op, nameOrIndex, R.RTM_GETLINK, {}, NLM_F_REQUEST);
  const replies = execute(req, { op, object: label(nameOrIndex) });
  const reply = replies.find((m) => m.type === R.RTM_NEWLINK);
  if (!reply) throw new LinuxError(op, Errno.ENODEV, label(nameOrIndex));
  return decodeLink(reply);
}

/** Like getLink, but undefined instead of ENODEV. */
export function findLink(nameOrIndex: string | number): Link | undefined {
  try {
    return getLink(nameOrIndex);
  } catch (e) {
    if (e instanceof LinuxError && e.code === "ENODEV") return undefined;
    throw e;
  }
}

/**
 * The index of a link given by name or index (a name is resolved through the kernel). When the
 * link is needed by another operation, pass it as `ctx`: a missing link is then reported as that
 * operation's ENODEV ('set master "vp1" failed: ENODEV (No such device: no link "weave")').
 */
export function linkIndex(
  nameOrIndex: string | number,
  ctx?: { op: string; object?: string },
): number {
  const op = ctx?.op ?? "get link";
  if (typeof nameOrIndex === "number") {
    checkIndex(op, nameOrIndex);
    return nameOrIndex;
  }
  checkIfName(op, nameOrIndex);
  const link = findLink(nameOrIndex);
  if (link) return link.index;
  const object = ctx?.object ?? nameOrIndex;
  const detail = object === nameOrIndex ? undefined : `no link "${nameOrIndex}"`;
  throw new LinuxError(op, Errno.ENODEV, object, detail);
}

export interface CommonCreate {
  mtu?: number;
  mac?: string;
  /** Created up and/or on this bridge (by index) in the same request: no later round trips. */
  up?: boolean;
  master?: number;
}

/**
 * One atomic RTM_NEWLINK (NLM_F_CREATE|NLM_F_EXCL): either everything exists afterwards or nothing.
 * Exported for the link kinds with files of their own in this folder (vxlan.ts).
 */
export function createLink(
  op: string,
  name: string,
  kind: string,
  opts: CommonCreate,
  data?: (req: MessageEncoder) => void,
): void {
  checkIfName(op, name);
  if (opts.mtu !== undefined) checkMtu(op, name, opts.mtu);
  const mac = opts.mac === undefined ? undefined : macBytes(op, name, opts.mac);
  if (opts.master !== undefined) checkIndex(op, opts.master);
  const req = new MessageEncoder(R.RTM_NEWLINK, requestFlags(NLM_F_CREATE | NLM_F_EXCL));
  req.raw(opts.up ? ifinfomsg(0, { flags: R.IFF_UP, change: R.IFF_UP }) : ifinfomsg());
  req.str(R.IFLA_IFNAME, name);
  if (opts.mtu !== undefined) req.u32(R.IFLA_MTU, opts.mtu);
  if (opts.master !== undefined) req.u32(R.IFLA_MASTER, opts.master);
  if (mac) req.attr(R.IFLA_ADDRESS, mac);
  req.nest(R.IFLA_LINKINFO, () => {
    req.str(R.IFLA_INFO_KIND, kind);
    if (data) req.nest(R.IFLA_INFO_DATA, () => data(req));
  });
  execute(req, { op, object: name });
}

export interface VethOptions extends CommonCreate {
  /** Namespace path for the peer end; the peer is created directly there. */
  peerNetns?: string;
  /** MTU of both ends. */
  mtu?: number;
  peerMac?: string;
}

/** Creates a veth pair `name` (here) ↔ `peerName` (here, or in `peerNetns`), in one request. */
export function createVeth(name: string, peerName: string, opts: VethOptions = {}): void {
  const op = "create veth";
  checkIfName(op, name);
  checkIfName(op, peerName);
  if (opts.mtu !== undefined) checkMtu(op, name, opts.mtu);
  const peerMac = opts.peerMac === undefined ? undefined : macBytes(op, peerName, opts.peerMac);
  if (name === peerName && opts.peerNetns === undefined) {
    throw invalid(op, name, "the two ends need different names in the same namespace");
  }
  const nsFd = opts.peerNetns === undefined
    ? -1
    : openNetnsFd(opts.peerNetns, `create veth "${name}": open peer netns`);
  try {
    createLink(op, name, "veth", opts, (req) => {
      req.nest(R.VETH_INFO_PEER, () => {
        // No IFF_UP here: the kernel opens the peer before pairing it (ENOTCONN).
        req.raw(ifinfomsg()).str(R.IFLA_IFNAME, peerName);
        if (nsFd >= 0) req.u32(R.IFLA_NET_NS_FD, nsFd);
        if (opts.mtu !== undefined) req.u32(R.IFLA_MTU, opts.mtu);
        if (peerMac) req.attr(R.IFLA_ADDRESS, peerMac);
      });
    });
  } finally {
    if (nsFd >= 0) closeFd(nsFd);
  }
}

export function createBridge(name: string, opts: { mtu?: number; mac?: string } = {}): void {
  createLink("create bridge", name, "bridge", opts);
}

export function createDummy(name: string, opts: { mtu?: number; mac?: string } = {}): void {
  createLink("create dummy", name, "dummy", opts);
}

/** Deletes a link (a veth's peer goes with it). ENODEV when it does not exist. */
export function deleteLink(nameOrIndex: string | number): void {
  const op = "delete link";
  execute(linkRequest(op, nameOrIndex, R.RTM_DELLINK), { op, object: label(nameOrIndex) });
}

function setFlags(op: string, link: string | number, up: boolean): void {
  const req = linkRequest(op, link, R.RTM_NEWLINK, {
    flags: up ? R.IFF_UP : 0,
    change: R.IFF_UP,
  });
  execute(req, { op, object: label(link) });
}

export function setLinkUp(link: string | number): void {
  setFlags("set link up", link, true);
}

export function setLinkDown(link: string | number): void {
  setFlags("set link down", link, false);
}

export function setMtu(link: string | number, mtu: number): void {
  const op = "set mtu";
  checkMtu(op, label(link), mtu);
  execute(linkRequest(op, link).u32(R.IFLA_MTU, mtu), { op, object: label(link) });
}

export function setMac(link: string | number, mac: string): void {
  const op = "set mac";
  const bytes = macBytes(op, label(link), mac);
  execute(linkRequest(op, link).attr(R.IFLA_ADDRESS, bytes), { op, object: label(link) });
}

/** Renames a link (the kernel requires it to be down). */
export function renameLink(link: string | number, newName: string): void {
  const op = "rename link";
  checkIfName(op, newName);
  const ctx = { op, object: label(link), detail: `new name "${newName}"` };
  const req = linkRequest(op, linkIndex(link, ctx)).str(R.IFLA_IFNAME, newName);
  execute(req, ctx);
}

/** Attaches a link to a bridge (or other master device). */
export function setMaster(link: string | number, bridge: string | number): void {
  const op = "set master";
  const master = linkIndex(bridge, { op, object: label(link) });
  execute(linkRequest(op, link).u32(R.IFLA_MASTER, master), { op, object: label(link) });
}

/** Detaches a link from its master. */
export function setNoMaster(link: string | number): void {
  const op = "set nomaster";
  execute(linkRequest(op, link).u32(R.IFLA_MASTER, 0), { op, object: label(link) });
}

/** Moves a link into the namespace at `netnsPath`. */
export function moveToNetns(link: string | number, netnsPath: string): void {
  const op = "move link to netns";
  const req = linkRequest(op, link);
  const fd = openNetnsFd(netnsPath, `move "${label(link)}" to netns`);
  try {
    execute(req.u32(R.IFLA_NET_NS_FD, fd), { op, object: label(link) });
  } finally {
    closeFd(fd);
  }
}

/** Bridge port hairpin mode (frames may leave through the port they came in on). */
export function setHairpin(link: string | number, on: boolean): void {
  const op = "set hairpin";
  // AF_BRIDGE setlink addresses the port by index only.
  const index = linkIndex(link, { op });
  const req = new MessageEncoder(R.RTM_SETLINK, requestFlags());
  req.raw(ifinfomsg(index, { family: AF_BRIDGE }));
  req.nest(R.IFLA_PROTINFO, () => req.u8(R.IFLA_BRPORT_MODE, on ? 1 : 0), true);
  execute(req, { op, object: label(link) });
}

/** The largest GSO packet the stack builds for this link (e.g. 65536). */
export function setGsoMaxSize(link: string | number, size: number): void {
  const op = "set gso_max_size";
  if (!Number.isInteger(size) || size < 1 || size > 0x7fffffff) {
    throw invalid(op, label(link), `gso_max_size ${size} must be a positive integer`);
  }
  execute(linkRequest(op, link).u32(R.IFLA_GSO_MAX_SIZE, size), { op, object: label(link) });
}
