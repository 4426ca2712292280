/**
 * CNI results: one internal shape (the 1.1.0 one), written out in the version the config asks
 * for, and read back (prevResult, a delegated IPAM plugin's answer) from any supported one. Pure.
 */
import * as z from "zod/mini";
import { CniError, ErrorCode } from "./errors.ts";
import { atLeast } from "./spec.ts";

export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface IPConfig {
  /** CIDR, e.g. "10.32.0.5/12". */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface Dns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Result {
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IPConfig[];
  routes?: Route[];
  dns?: Dns;
}

const optInt = z.optional(z.int());
const optStrings = z.optional(z.array(z.string()));

export const dnsSchema = z.looseObject({
  nameservers: optStrings,
  domain: z.optional(z.string()),
  search: optStrings,
  options: optStrings,
});

export const routeSchema = z.looseObject({
  dst: z.string(),
  gw: z.optional(z.string()),
  mtu: optInt,
  advmss: optInt,
  priority: optInt,
  table: optInt,
  scope: optInt,
});

/** Any of 0.3.0 … 1.1.0: `ips[].version` (0.3.x/0.4.0) is accepted and dropped. */
const resultSchema = z.looseObject({
  cniVersion: z.optional(z.string()),
  interfaces: z.optional(z.array(z.looseObject({
    name: z.string(),
    mac: z.optional(z.string()),
    mtu: optInt,
    sandbox: z.optional(z.string()),
    socketPath: z.optional(z.string()),
    pciID: z.optional(z.string()),
  }))),
  ips: z.optional(z.array(z.looseObject({
    version: z.optional(z.enum(["4", "6"])),
    address: z.string(),
    gateway: z.optional(z.string()),
    interface: z.optional(z.int().check(z.nonnegative())),
  }))),
  routes: z.optional(z.array(routeSchema)),
  dns: z.optional(dnsSchema),
});

export type ResultInput = z.infer<typeof resultSchema>;

/** Reads a result of any supported version into the internal shape; `what` names its source. */
export function parseResult(raw: unknown, what: string): Result {
  const r = resultSchema.safeParse(raw);
  if (!r.success) {
    throw new CniError(
      ErrorCode.DecodeFailure,
      `${what} is not a valid CNI result: ${formatIssues(r.error.issues)}`,
    );
  }
  const v = r.data;
  const out: Result = { cniVersion: v.cniVersion ?? "" };
  if (v.interfaces) out.interfaces = v.interfaces.map(pick(INTERFACE_KEYS));
  if (v.ips) out.ips = v.ips.map(pick(IP_KEYS));
  if (v.routes) out.routes = v.routes.map(pick(ROUTE_KEYS));
  if (v.dns) out.dns = pick(DNS_KEYS)(v.dns);
  return out;
}

const INTERFACE_KEYS = ["name", "mac", "mtu", "sandbox", "socketPath", "pciID"] as const;
const IP_KEYS = ["address", "gateway", "interface"] as const;
const ROUTE_KEYS = ["dst", "gw", "mtu", "advmss", "priority", "table", "scope"] as const;
const DNS_KEYS = ["nameservers", "domain", "search", "options"] as const;
/** Before 1.1.0: without 1.1.0's additions (mtu, socketPath, pciID, route options). */
const INTERFACE_KEYS_1_0 = ["name", "mac", "sandbox"] as const;
const ROUTE_KEYS_1_0 = ["dst", "gw"] as const;

// deno-lint-ignore no-explicit-any
function pick<K extends string>(keys: readonly K[]): (o: any) => any {
  return (o) => {
    const out: Record<string, unknown> = {};
    for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
    return out;
  };
}

/** `"4"` or `"6"` for a CIDR or address. */
export function ipVersionOf(address: string): "4" | "6" {
  return address.includes(":") ? "6" : "4";
}

/**
 * The result as the runtime expects it for a config of `version` (a supported one): always in
 * that version. Not an older one a runtime might parse more easily: libcni 1.0/1.1 (containerd
 * 1.6/1.7, CRI-O before 1.31, podman 4) cache the result and convert it to the config's version
 * on DEL, and have no converter 1.0.0 → 1.1.0, so a 1.0.0 answer to a 1.1.0 config made every
 * DEL fail before any plugin ran and leaked every pod's address (deploy/cni/README.md).
 */
export function formatResult(result: Result, version: string): Record<string, unknown> {
  const modern = atLeast(version, "1.1.0");
  const out: Record<string, unknown> = { cniVersion: version };
  if (result.interfaces) {
    out.interfaces = result.interfaces.map(pick(modern ? INTERFACE_KEYS : INTERFACE_KEYS_1_0));
  }
  if (result.ips) {
    out.ips = result.ips.map((ip) => {
      const o = pick(IP_KEYS)(ip);
      return atLeast(version, "1.0.0") ? o : { version: ipVersionOf(ip.address), ...o };
    });
  }
  if (result.routes) out.routes = result.routes.map(pick(modern ? ROUTE_KEYS : ROUTE_KEYS_1_0));
  // The spec's dns is always present in 0.3+ results; an empty object means "none".
  out.dns = result.dns ? pick(DNS_KEYS)(result.dns) : {};
  return out;
}

/** One line per zod issue: `path: message`. */
export function formatIssues(issues: readonly { path: PropertyKey[]; message: string }[]): string {
  return issues.map((i) => {
    const path = i.path.map((p) => typeof p === "number" ? `[${p}]` : `.${String(p)}`).join("");
    return path ? `${path.replace(/^\./, "")}: ${i.message}` : i.message;
  }).join("; ");
}
