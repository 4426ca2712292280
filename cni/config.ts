/**
 * The network configuration a runtime passes on stdin, validated once here. Unknown keys are
 * kept (the spec requires plugins to ignore what they do not know). Pure.
 */
import * as z from "zod/mini";
import { isIPv4, isMac, parseCidr } from "../net/addr/mod.ts";
import { CniError, decodeJson, describeCause, ErrorCode } from "./errors.ts";
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
    return `${describeCause(e)} (weavets is IPv4-only; write a.b.c.d/len)`;
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
/** host:port, or the absolute path of a Unix socket (as Weave Net's --http-addr). */
const daemonAddressSchema = z.string().check(custom((v: string) => {
  if (v.startsWith("/")) return v.includes("\0") ? `"${v}" is not a socket path` : null;
  const m = /^(.+):([0-9]{1,5})$/.exec(v);
  return m && Number(m[2]) > 0 && Number(m[2]) < 65536
    ? null
    : `"${v}" is not host:port (for example ${DEFAULT_DAEMON_ADDRESS}) or a socket's path`;
}));

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * A plugin name as libcni requires it: found in CNI_PATH by name, so no path separator (with one,
 * `../../x` ran a binary outside CNI_PATH as root).
 */
export function pluginNameProblem(v: string): string | null {
  if (v === "") return 'must name the IPAM plugin, e.g. "host-local"';
  if (v.includes("/") || v === "." || v === ".." || v.includes("\0") || v.length > 255) {
    return `"${v}" is not a plugin name: it must be a file name in CNI_PATH, without "/"`;
  }
  return null;
}

const route = z.looseObject({ dst: cidr, gw: z.optional(ipv4) });

/** Keys every invocation understands, also as an IPAM plugin inside another plugin's config. */
const common = {
  cniVersion: z.string(),
  name: z.string().check(
    custom((v: string) =>
      NAME_RE.test(v) ? null : `"${v}" must start with a letter or digit and contain only ` +
        "letters, digits, '_', '.' and '-'"
    ),
  ),
  type: z.string().check(z.minLength(1, 'must name the plugin ("weavets")')),
  // Without a type (Weave Net's own IPAM) or with one of the plugin's own names ("weave-ipam"):
  // the weavets daemon's IPAM, with Weave's optional keys. Any other type is a plugin to
  // delegate to.
  ipam: z.optional(z.looseObject({
    type: z.optional(z.string().check(custom(pluginNameProblem))),
  })),
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
  /** The weavets daemon's HTTP API (host:port or a Unix socket); overrides WEAVE_HTTP_ADDR. */
  daemonAddress: z.optional(daemonAddressSchema),
  prevResult: z.optional(z.unknown()),
  "cni.dev/valid-attachments": z.optional(z.array(z.looseObject({
    containerID: z.string(),
    ifname: z.string(),
  }))),
};

/** The network plugin's own keys (not read when running as another plugin's IPAM). */
const schema = z.looseObject({
  ...common,
  bridge: z._default(ifName, DEFAULT_BRIDGE),
  mtu: z.optional(z.int().check(z.gte(68), z.lte(65535))),
  hairpinMode: z._default(z.boolean(), true),
  dns: z.optional(dnsSchema),
  routes: z.optional(z.array(route)),
  isGateway: z.optional(z.boolean()),
  ipMasq: z.optional(z.boolean()),
});
const ipamOnlySchema = z.looseObject(common);

/** Weave Net's IPAM keys (weave:plugin/ipam/cni.go), read when the daemon is the IPAM. */
const weaveIpamSchema = z.looseObject({
  subnet: z.optional(cidr),
  gateway: z.optional(ipv4),
  routes: z.optional(z.array(route)),
});

type Parsed = z.infer<typeof schema>;

/** The IPAM plugin type that means the weavets daemon (Weave Net's IPAM-only plugin's name). */
const WEAVE_IPAM_TYPE = "weave-ipam";
/** The names the plugin is installed under that run the network plugin (cni/invocation.ts). */
export const NETWORK_TYPES = ["weavets", "weave-net"];
/**
 * Every name the binary is installed under. As `ipam.type` each means the daemon's IPAM: never a
 * plugin to exec, which would be this plugin again, exec'ing itself without end.
 */
export const OWN_TYPES = [...NETWORK_TYPES, WEAVE_IPAM_TYPE];

export interface Route {
  dst: string;
  gw?: string;
}

/**
 * Where addresses come from: the weavets daemon (no `ipam`, an `ipam` without type as in Weave
 * Net, or type "weave-ipam" or another of OWN_TYPES), optionally in `subnet` with Weave's `gateway` and `routes`; or a
 * delegated IPAM plugin.
 */
export type IpamConf =
  | { kind: "daemon"; subnet?: string; gateway?: string; routes?: Route[] }
  | { kind: "delegate"; type: string };

export interface NetConf {
  cniVersion: SpecVersion;
  name: string;
  type: string;
  bridge: string;
  mtu?: number;
  hairpinMode: boolean;
  ipam: IpamConf;
  dns?: Parsed["dns"];
  routes?: Route[];
  /** Addresses asked for by the runtime (capability `ips`, `args.cni.ips`). */
  requestedIps: string[];
  /** MAC asked for by the runtime (capability `mac`). */
  mac?: string;
  daemonAddress?: string;
  prevResult?: Result;
  validAttachments?: { containerID: string; ifname: string }[];
}

/** stdin as JSON, or error 6 (decode failure). */
export function decodeConfig(text: string): unknown {
  return decodeJson(
    text,
    "the network config on stdin is not valid JSON; the runtime must pass the network " +
      "configuration (the plugin's conflist entry) as a JSON object",
  );
}

/**
 * Parses stdin (`raw` when the caller decoded it already). `ipamOnly`: this run is the IPAM
 * plugin of another plugin's config, so only the keys an IPAM plugin reads are checked.
 * Errors: 6 not JSON, 1 unsupported version, 7 invalid, 2 unsupported field.
 */
export function parseConfig(
  text: string,
  opts: { raw?: unknown; ipamOnly?: boolean } = {},
): NetConf {
  const raw = "raw" in opts ? opts.raw : decodeConfig(text);
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
  const r = (opts.ipamOnly ? ipamOnlySchema : schema).safeParse(raw);
  if (!r.success) throw invalidConfig(r.error.issues);
  return opts.ipamOnly ? toIpamOnlyConf(r.data as Parsed) : toNetConf(r.data as Parsed);
}

function invalidConfig(issues: readonly { path: PropertyKey[]; message: string }[]): CniError {
  return new CniError(
    ErrorCode.InvalidConfig,
    `invalid network config: ${formatIssues(issues)}; fix the network config file`,
  );
}

function ipamConf(ipam: Parsed["ipam"]): IpamConf {
  const type = ipam?.type;
  if (type !== undefined && !OWN_TYPES.includes(type)) return { kind: "delegate", type };
  const r = weaveIpamSchema.safeParse(ipam ?? {});
  if (!r.success) {
    throw invalidConfig(r.error.issues.map((i) => ({ ...i, path: ["ipam", ...i.path] })));
  }
  const out: IpamConf = { kind: "daemon" };
  if (r.data.subnet) out.subnet = r.data.subnet;
  if (r.data.gateway) out.gateway = r.data.gateway;
  if (r.data.routes) out.routes = r.data.routes.map(toRoute);
  return out;
}

function toRoute(r: { dst: string; gw?: string }): Route {
  return r.gw ? { dst: r.dst, gw: r.gw } : { dst: r.dst };
}

/** As the IPAM of another plugin: the network plugin's keys are that plugin's, not read. */
function toIpamOnlyConf(c: Parsed): NetConf {
  return toNetConf({
    ...c,
    bridge: DEFAULT_BRIDGE,
    hairpinMode: true,
    mtu: undefined,
    dns: undefined,
    routes: undefined,
    isGateway: undefined,
    ipMasq: undefined,
  });
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
    ipam: ipamConf(c.ipam),
    requestedIps: c.runtimeConfig?.ips ?? c.args?.cni?.ips ?? [],
  };
  if (c.mtu !== undefined) conf.mtu = c.mtu;
  if (c.dns) conf.dns = c.dns;
  if (c.routes) conf.routes = c.routes.map(toRoute);
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
