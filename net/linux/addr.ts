/** Interface addresses over rtnetlink (IPv4; IPv6 too). */

import { invalid } from "./errors.ts";
import { formatIp, formatIpPrefix, parseIpPrefix } from "./ip.ts";
import { AF_INET, AF_INET6 } from "./libc.ts";
import { linkIndex } from "./link.ts";
import { asInvalid } from "./names.ts";
import {
  decodeAttrs,
  type Message,
  MessageEncoder,
  NLM_F_CREATE,
  NLM_F_EXCL,
} from "./netlink/codec.ts";
import * as R from "./netlink/rtnl.ts";
import { dump, dumpFlags, execute, requestFlags } from "./netlink/socket.ts";

export interface Address {
  /** Interface index. */
  index: number;
  family: 4 | 6;
  /** The address with its prefix length, "10.32.0.5/12". */
  cidr: string;
  /** RT_SCOPE_*: 0 universe (global), 253 link, 254 host. */
  scope: number;
  label?: string;
  broadcast?: string;
}

export interface AddAddressOptions {
  /** IPv4 label ("eth0:1"); defaults to the interface name as the kernel does. */
  label?: string;
}

function ifaddrmsg(family: number, prefix: number, scope: number, index: number): Uint8Array {
  const b = new Uint8Array(R.IFADDRMSG_LEN);
  const v = new DataView(b.buffer);
  v.setUint8(0, family);
  v.setUint8(1, prefix);
  v.setUint8(3, scope);
  v.setUint32(4, index, true);
  return b;
}

/** Errors read 'add address 10.32.0.5/12 on "eth0" failed: …'; `object` is the interface. */
function context(verb: string, link: string | number, cidr: string) {
  return { op: `${verb} ${cidr} on`, object: typeof link === "number" ? `ifindex ${link}` : link };
}

function addressRequest(
  ctx: { op: string; object: string },
  type: number,
  flags: number,
  link: string | number,
  cidr: string,
) {
  const p = asInvalid(ctx.op, ctx.object, () => parseIpPrefix(cidr));
  const index = linkIndex(link, ctx);
  // Loopback addresses get host scope, as `ip address add` gives them.
  const scope = p.family === 4 && p.bytes[0] === 127 ? R.RT_SCOPE_HOST : R.RT_SCOPE_UNIVERSE;
  const req = new MessageEncoder(type, flags);
  req.raw(ifaddrmsg(p.family === 4 ? AF_INET : AF_INET6, p.prefix, scope, index));
  req.attr(R.IFA_LOCAL, p.bytes).attr(R.IFA_ADDRESS, p.bytes);
  return { req, p };
}

/** Adds `cidr` ("10.32.0.5/12") to a link; IPv4 gets the subnet's broadcast address. EEXIST when present. */
export function addAddress(
  link: string | number,
  cidr: string,
  opts: AddAddressOptions = {},
): void {
  const ctx = context("add address", link, cidr);
  const flags = requestFlags(NLM_F_CREATE | NLM_F_EXCL);
  const { req, p } = addressRequest(ctx, R.RTM_NEWADDR, flags, link, cidr);
  if (p.family === 4 && p.prefix < 31) {
    const brd = p.bytes.slice();
    for (let bit = p.prefix; bit < 32; bit++) brd[bit >> 3] |= 0x80 >> (bit & 7);
    req.attr(R.IFA_BROADCAST, brd);
  }
  if (opts.label !== undefined) {
    if (p.family !== 4) throw invalid(ctx.op, ctx.object, "labels exist for IPv4 addresses only");
    req.str(R.IFA_LABEL, opts.label);
  }
  execute(req, ctx);
}

/** Removes `cidr` from a link. EADDRNOTAVAIL when it is not there. */
export function deleteAddress(link: string | number, cidr: string): void {
  const ctx = context("delete address", link, cidr);
  execute(addressRequest(ctx, R.RTM_DELADDR, requestFlags(), link, cidr).req, ctx);
}

export function decodeAddress(m: Message): Address {
  const v = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
  const family = v.getUint8(0) === AF_INET6 ? 6 : 4;
  const a = decodeAttrs(m.payload, R.IFADDRMSG_LEN);
  const local = a.get(R.IFA_LOCAL) ?? a.get(R.IFA_ADDRESS) ?? new Uint8Array(family === 4 ? 4 : 16);
  const out: Address = {
    index: v.getUint32(4, true),
    family,
    cidr: formatIpPrefix(local, v.getUint8(1)),
    scope: v.getUint8(3),
  };
  const label = a.str(R.IFA_LABEL);
  if (label) out.label = label;
  const brd = a.get(R.IFA_BROADCAST);
  if (brd) out.broadcast = formatIp(brd);
  return out;
}

/** Addresses in the current namespace, optionally of one link only. */
export function listAddresses(link?: string | number): Address[] {
  const index = link === undefined ? undefined : linkIndex(link, { op: "list addresses" });
  const req = new MessageEncoder(R.RTM_GETADDR, dumpFlags()).raw(ifaddrmsg(0, 0, 0, 0));
  return dump(req, { op: "list addresses", object: link === undefined ? undefined : `${link}` })
    .filter((m) => m.type === R.RTM_NEWADDR)
    .map(decodeAddress)
    .filter((a) => index === undefined || a.index === index);
}
