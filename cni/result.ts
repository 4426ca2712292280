/**
 * CNI results: one internal shape (the 1.1.0 one), written out in the version the config asks
 * for (1.1.0 as 1.0.0, see resultVersion), and read back (prevResult, a delegated IPAM plugin's
 * answer) from any supported one. Pure.
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
/** What results are written with: 1.1.0's additions (mtu, socketPath, pciID…) left out. */
const INTERFACE_KEYS_OUT = ["name", "mac", "sandbox"] as const;
const ROUTE_KEYS_OUT = ["dst", "gw"] as const;

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
 * The version a result for a config of `configVersion` is written in: the same, except 1.1.0,
 * written as 1.0.0. libcni 1.0 and 1.1 (containerd 1.6 and 1.7, podman 4, CRI-O before libcni
 * 1.2) parse a result by its own cniVersion and know no 1.1.0: given one they fail the pod after
 * the plugin made it, and their teardown then stops at the first plugin of the chain that cannot
 * DEL a 1.1.0 config, leaking the pod's interface and address. A 1.0.0 result reads the same
 * everywhere (1.1.0 only adds optional fields), and libcni 1.2 converts it to the config's version.
 */
export function resultVersion(configVersion: string): string {
  return configVersion === "1.1.0" ? "1.0.0" : configVersion;
}

/** The result as the runtime expects it for a config of `configVersion` (a supported one). */
export function formatResult(result: Result, configVersion: string): Record<string, unknown> {
  const version = resultVersion(configVersion);
  const out: Record<string, unknown> = { cniVersion: version };
  if (result.interfaces) out.interfaces = result.interfaces.map(pick(INTERFACE_KEYS_OUT));
  if (result.ips) {
    out.ips = result.ips.map((ip) => {
      const o = pick(IP_KEYS)(ip);
      return atLeast(version, "1.0.0") ? o : { version: ipVersionOf(ip.address), ...o };
    });
  }
  if (result.routes) out.routes = result.routes.map(pick(ROUTE_KEYS_OUT));
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
