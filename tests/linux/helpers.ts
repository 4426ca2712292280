/** Shared bits of the net/linux root tests: the netns prefix, `ip -j` shapes, error matchers. */
import assert from "node:assert/strict";
import { ipJson, sh } from "../harness/sh.ts";
import { LinuxError, netnsPath } from "../../net/linux/mod.ts";

/** This area's netns prefix: every namespace these tests make starts with it. */
export const PREFIX = "wtl";

export { netnsPath };

/** One entry of `ip -j [-d] link show`. */
export interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  operstate: string;
  address?: string;
  master?: string;
  link?: string;
  link_index?: number;
  link_netnsid?: number;
  gso_max_size?: number;
  linkinfo?: {
    info_kind?: string;
    info_data?: Record<string, unknown>;
    info_slave_kind?: string;
    info_slave_data?: Record<string, unknown>;
  };
}

export function ipLinks(ns: string, ...args: string[]): Promise<IpLink[]> {
  return ipJson<IpLink[]>(ns, "-d", "link", "show", ...args);
}

export async function ipLink(ns: string, dev: string): Promise<IpLink> {
  const [l] = await ipLinks(ns, "dev", dev);
  assert.ok(l, `ip link show dev ${dev} in ${ns} found nothing`);
  return l;
}

/** `bridge -j fdb show` inside a namespace. */
export async function bridgeFdb(ns: string, ...args: string[]): Promise<Record<string, unknown>[]> {
  const out = await sh("bridge", "-n", ns, "-j", "fdb", "show", ...args);
  return out.trim() ? JSON.parse(out) : [];
}

/** An assert.throws matcher: a LinuxError with this code and exactly this message. */
export function linuxError(code: string, message?: string | RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof LinuxError, `expected LinuxError, got ${e}`);
    assert.equal(e.code, code, e.message);
    if (typeof message === "string") assert.equal(e.message, message);
    else if (message) assert.match(e.message, message);
    return true;
  };
}
