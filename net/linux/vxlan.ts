/** VXLAN devices over rtnetlink (the kernel's fast path); other link kinds are in link.ts. */
import { ipv4ToBytes, parseIPv4 } from "../addr/mod.ts";
import { invalid } from "./errors.ts";
import { createLink, linkIndex } from "./link.ts";
import { asInvalid, checkIfName } from "./names.ts";
import * as R from "./netlink/rtnl.ts";

export interface VxlanOptions {
  /** VXLAN network identifier, 1..16777215. */
  vni: number;
  /** Destination UDP port (4789 is the IANA port). */
  port: number;
  /** Local (source) IPv4 address. */
  local?: string;
  /** Underlay device (name or index). */
  dev?: string | number;
  /** Learn remote MACs from received packets; default false (the FDB is programmed). */
  learning?: boolean;
  /** Report FDB misses (L2) / neighbour misses (L3) to netlink listeners. */
  l2miss?: boolean;
  l3miss?: boolean;
  ttl?: number;
  mtu?: number;
  mac?: string;
}

export function createVxlan(name: string, opts: VxlanOptions): void {
  const op = "create vxlan";
  checkIfName(op, name);
  if (!Number.isInteger(opts.vni) || opts.vni < 1 || opts.vni > 0xffffff) {
    throw invalid(op, name, `VNI ${opts.vni} is outside 1..16777215`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) {
    throw invalid(op, name, `UDP port ${opts.port} is outside 1..65535`);
  }
  if (opts.ttl !== undefined && (!Number.isInteger(opts.ttl) || opts.ttl < 0 || opts.ttl > 255)) {
    throw invalid(op, name, `TTL ${opts.ttl} is outside 0..255`);
  }
  const local = opts.local === undefined
    ? undefined
    : asInvalid(op, name, () => ipv4ToBytes(parseIPv4(opts.local!)));
  const dev = opts.dev === undefined ? undefined : linkIndex(opts.dev, { op, object: name });
  createLink(op, name, "vxlan", opts, (req) => {
    req.u32(R.IFLA_VXLAN_ID, opts.vni);
    req.u16be(R.IFLA_VXLAN_PORT, opts.port);
    if (local) req.attr(R.IFLA_VXLAN_LOCAL, local);
    if (dev !== undefined) req.u32(R.IFLA_VXLAN_LINK, dev);
    req.u8(R.IFLA_VXLAN_LEARNING, opts.learning ? 1 : 0);
    if (opts.l2miss !== undefined) req.u8(R.IFLA_VXLAN_L2MISS, opts.l2miss ? 1 : 0);
    if (opts.l3miss !== undefined) req.u8(R.IFLA_VXLAN_L3MISS, opts.l3miss ? 1 : 0);
    if (opts.ttl !== undefined) req.u8(R.IFLA_VXLAN_TTL, opts.ttl);
  });
}
