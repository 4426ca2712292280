/**
 * The network configuration a runtime passes on stdin, validated once here. Unknown keys are
 * kept (the spec requires plugins to ignore what they do not know). Pure.
 */
import * as z from "zod/mini";
import { isIPv4, isMac, parseCidr } from "../net/addr/mod.ts";
import { CniError, decodeJson, ErrorCode } from "./errors.ts";
import { ifNameProblem } from "../net/linux/names.ts";
import { dnsSchema, formatIssues, parseResult, type Result } from "./result.ts";
import { requireSupportedVersion, type SpecVersion } from "./spec.ts";

export const DEFAULT_BRIDGE = "weave";
/** The daemon's HTTP API, as in Weave Net (`WEAVE_HTTP_ADDR` overrides it). */
export const DEFAULT_DAEMON_ADDRESS = "127.0.0.1:6784";

function custom<T>(problem: (v: T) => string | null) {
  return z.superRefine<T>((v, ctx) => {
    const p = problem(v);
    if (p) ctx.issues.push({ code: "custom", message: p, input: v });
  });
}

function cidrProblem(v: string): string | null {
  try {
    parseCidr(v);
    return null;
  } catch (e) {
    return `${(e as Error).message} (weavets is IPv4-only; write a.b.c.d/len)`;
  }
}

const cidr = z.string().check(custom(cidrProblem));
const ipv4 = z.string().check(
  custom((v: string) => isIPv4(v) ? null : `invalid IPv4 address "${v}"`),
);
const ipOrCidr = z.string().check(
  custom((v: string) =>
    v.includes("/") ? cidrProblem(v) : isIPv4(v) ? null : `invalid IPv4 "${v}"`
  ),
);
const ifName = z.string().check(
  custom((v: string) => {
    const p = ifNameProblem(v);
    return p ? `"${v}" is invalid: ${p}` : null;
  }),
);
const hostPort = z.string().check(custom((v: string) => {
  const m = /^(.+):([0-9]{1,5})$/.exec(v);
  return m && Number(m[2]) > 0 && Number(m[2]) < 65536
    ? null
    : `"${v}" is not host:port (for example ${DEFAULT_DAEMON_ADDRESS})`;
}));

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

const schema = z.looseObject({
  cniVersion: z.string(),
  name: z.string().check(
    custom((v: string) =>
      NAME_RE.test(v) ? null : `"${v}" must start with a letter or digit and contain only ` +
        "letters, digits, '_', '.' and '-'"
    ),
  ),
  type: z.string().check(z.minLength(1, 'must name the plugin ("weavets")')),
  bridge: z._default(ifName, DEFAULT_BRIDGE),
  mtu: z.optional(z.int().check(z.gte(68), z.lte(65535))),
  hairpinMode: z._default(z.boolean(), true),
  ipam: z.optional(z.looseObject({
    type: z.string().check(z.minLength(1, 'must name the IPAM plugin, e.g. "host-local"')),
  })),
  dns: z.optional(dnsSchema),
  routes: z.optional(z.array(z.looseObject({ dst: cidr, gw: z.optional(ipv4) }))),
  runtimeConfig: z.optional(z.looseObject({
    ips: z.optional(z.array(cidr)),
    mac: z.optional(
      z.string().check(
        custom((v: string) => isMac(v) ? null : `invalid MAC address "${v}"`),
      ),
    ),
  })),
  args: z.optional(z.looseObject({
    cni: z.optional(z.looseObject({ ips: z.optional(z.array(ipOrCidr)) })),
  })),
  /** The weavets daemon's HTTP API (host:port); overrides WEAVE_HTTP_ADDR. */
  daemonAddress: z.optional(hostPort),
  isGateway: z.optional(z.boolean()),
  ipMasq: z.optional(z.boolean()),
  prevResult: z.optional(z.unknown()),
  "cni.dev/valid-attachments": z.optional(z.array(z.looseObject({
    containerID: z.string(),
    ifname: z.string(),
  }))),
});

type Parsed = z.infer<typeof schema>;

export interface NetConf {
  cniVersion: SpecVersion;
  name: string;
  type: string;
  bridge: string;
  mtu?: number;
  hairpinMode: boolean;
  /** The IPAM plugin to delegate to; absent means "ask the weavets daemon". */
  ipam?: { type: string };
  dns?: Parsed["dns"];
  routes?: { dst: string; gw?: string }[];
  /** Addresses asked for by the runtime (capability `ips`, `args.cni.ips`). */
  requestedIps: string[];
  /** MAC asked for by the runtime (capability `mac`). */
  mac?: string;
  daemonAddress?: string;
  prevResult?: Result;
  validAttachments?: { containerID: string; ifname: string }[];
}

/** Parses stdin. Errors: 6 not JSON, 1 unsupported version, 7 invalid, 2 unsupported field. */
export function parseConfig(text: string): NetConf {
  const raw = decodeJson(
    text,
    "the network config on stdin is not valid JSON; the runtime must pass the network " +
      "configuration (the plugin's conflist entry) as a JSON object",
  );
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new CniError(
      ErrorCode.DecodeFailure,
      "the network config on stdin must be a JSON object, got " +
        (Array.isArray(raw) ? "an array" : raw === null ? "null" : typeof raw),
    );
  }
  const version = (raw as Record<string, unknown>).cniVersion;
  if (typeof version !== "string") {
    throw new CniError(
      ErrorCode.InvalidConfig,
      'the network config has no "cniVersion" string; add e.g. "cniVersion": "1.0.0"',
    );
  }
  requireSupportedVersion(version);
  const r = schema.safeParse(raw);
  if (!r.success) {
    throw new CniError(
      ErrorCode.InvalidConfig,
      `invalid network config: ${formatIssues(r.error.issues)}; fix the network config file`,
    );
  }
  return toNetConf(r.data);
}

function toNetConf(c: Parsed): NetConf {
  for (const key of ["isGateway", "ipMasq"] as const) {
    if (c[key]) {
      throw new CniError(
        ErrorCode.UnsupportedField,
        `"${key}": true is not supported by weavets (the bridge address is the pods' gateway ` +
          `and masquerading is the daemon's job); remove "${key}" from the network config`,
      );
    }
  }
  const conf: NetConf = {
    cniVersion: c.cniVersion as SpecVersion,
    name: c.name,
    type: c.type,
    bridge: c.bridge,
    hairpinMode: c.hairpinMode,
    requestedIps: c.runtimeConfig?.ips ?? c.args?.cni?.ips ?? [],
  };
  if (c.mtu !== undefined) conf.mtu = c.mtu;
  if (c.ipam) conf.ipam = { type: c.ipam.type };
  if (c.dns) conf.dns = c.dns;
  if (c.routes) {
    conf.routes = c.routes.map((r) => (r.gw ? { dst: r.dst, gw: r.gw } : { dst: r.dst }));
  }
  if (c.runtimeConfig?.mac) conf.mac = c.runtimeConfig.mac;
  if (c.daemonAddress) conf.daemonAddress = c.daemonAddress;
  if (c.prevResult !== undefined) conf.prevResult = parseResult(c.prevResult, "prevResult");
  if (c["cni.dev/valid-attachments"]) {
    conf.validAttachments = c["cni.dev/valid-attachments"].map((a) => ({
      containerID: a.containerID,
      ifname: a.ifname,
    }));
  }
  return conf;
}
