/**
 * Weave Net 2.8.1's router flags (weave:prog/weaver/main.go) that weavets does not implement,
 * and the rewriting of a Weave-style command line (EXTRA_ARGS) into one weavets' strict parser
 * takes. A flag that only makes sense with Docker (proxy, DNS, plugin, TLS), with Open vSwitch,
 * or with Weave Cloud is dropped with one warning naming it: a Weave manifest's EXTRA_ARGS must
 * never crash the daemon. Pure.
 */
import { canonical, cidrContains, formatCidr, parseCidr } from "../addr/mod.ts";

export interface IgnoredFlag {
  /** Takes a value ("--flag=v" or "--flag v"); otherwise a boolean. */
  value: boolean;
  why: string;
}

const DOCKER = "Docker-only (weavets has no Docker proxy, DNS or plugin)";
const ODP = "weavets has no Open vSwitch datapath (the fast path is kernel VXLAN)";
const CLOUD = "Weave Cloud discovery (defunct since 2022); weavets does not use it";

/** Weave's flags without a weavets meaning, by name (without dashes). */
export const IGNORED_WEAVE_FLAGS: Readonly<Record<string, IgnoredFlag>> = {
  // Docker proxy, weaveDNS, the Docker plugin and their TLS settings.
  "docker-api": { value: true, why: DOCKER },
  "docker-bridge": { value: true, why: DOCKER },
  "no-dns": { value: false, why: DOCKER },
  "dns-domain": { value: true, why: DOCKER },
  "dns-listen-address": { value: true, why: DOCKER },
  "dns-ttl": { value: true, why: DOCKER },
  "dns-fallback-timeout": { value: true, why: DOCKER },
  "resolv-conf": { value: true, why: DOCKER },
  plugin: { value: false, why: DOCKER },
  "plugin-v2": { value: false, why: DOCKER },
  "plugin-v2-multicast": { value: false, why: DOCKER },
  "plugin-socket": { value: true, why: DOCKER },
  "plugin-mesh-socket": { value: true, why: DOCKER },
  proxy: { value: false, why: DOCKER },
  H: { value: true, why: DOCKER },
  "hostname-from-label": { value: true, why: DOCKER },
  "hostname-match": { value: true, why: DOCKER },
  "hostname-replacement": { value: true, why: DOCKER },
  "rewrite-inspect": { value: false, why: DOCKER },
  "no-default-ipalloc": { value: false, why: DOCKER },
  "no-rewrite-hosts": { value: false, why: DOCKER },
  "without-dns": { value: false, why: DOCKER },
  "no-multicast-route": { value: false, why: DOCKER },
  tls: { value: false, why: DOCKER },
  tlsverify: { value: false, why: DOCKER },
  tlscacert: { value: true, why: DOCKER },
  tlscert: { value: true, why: DOCKER },
  tlskey: { value: true, why: DOCKER },
  // Open vSwitch and the host paths Weave's container needed.
  datapath: { value: true, why: ODP },
  "no-bridged-fastdp": { value: false, why: ODP },
  "host-root": { value: true, why: "weavets reads the host's files directly" },
  "proc-path": { value: true, why: "weavets reads the host's files directly" },
  "db-prefix": { value: true, why: "weavets keeps its state in --datadir (a different format)" },
  // Weave Cloud.
  token: { value: true, why: CLOUD },
  "peer-discovery-url": { value: true, why: CLOUD },
  "advertise-address": { value: true, why: CLOUD },
  // Debugging aids of Weave's Go implementation, and its wire protocol.
  "pkt-debug": { value: false, why: "per-packet logging is not available (use tcpdump)" },
  profile: { value: true, why: "Go profiling is not available" },
  bufsz: { value: true, why: "the capture buffer is Weave's pcap path, which weavets lacks" },
  "min-protocol-version": { value: true, why: "weavets speaks its own protocol, not Weave's" },
  resume: { value: false, why: "peers are always redialled from the configuration" },
  awsvpc: {
    value: false,
    why: "AWS VPC routing is not supported: pods are reached over the overlay instead",
  },
};

/**
 * Boolean flags weavets implements. Go's flag package also takes "--flag=true" and "--flag=false";
 * node's strict parser does not, so those are rewritten.
 */
export type BooleanFlags = ReadonlySet<string>;

export interface RewrittenArgs {
  args: string[];
  warnings: string[];
}

/**
 * Rewrites a Weave-style command line: ignored flags (and their values) removed with one warning
 * each, "--bool=true" → "--bool", "--bool=false" dropped. Everything else (our flags, unknown
 * flags, positionals) is passed on unchanged for the strict parser to judge. "--" ends flags.
 */
export function rewriteWeaveArgs(args: readonly string[], booleans: BooleanFlags): RewrittenArgs {
  const out: string[] = [];
  const warnings: string[] = [];
  const warned = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      out.push(...args.slice(i));
      break;
    }
    // Weave's long flags take two dashes; its one short flag is -H (the Docker proxy's address).
    const m = /^(?:--([A-Za-z][\w-]*)|-(H))(?:=(.*))?$/s.exec(a);
    if (!m) {
      out.push(a);
      continue;
    }
    const name = m[1] ?? m[2];
    const inline = m[3];
    const ignored = Object.hasOwn(IGNORED_WEAVE_FLAGS, name) ? IGNORED_WEAVE_FLAGS[name] : null;
    if (ignored) {
      // A value flag's value is the next word unless given inline (Go's flag package).
      if (ignored.value && inline === undefined && i + 1 < args.length) i++;
      if (!warned.has(name)) {
        warned.add(name);
        warnings.push(
          `${name.length === 1 ? "-" : "--"}${name} (Weave Net) ignored: ${ignored.why}`,
        );
      }
      continue;
    }
    if (booleans.has(name) && inline !== undefined) {
      const v = inline.toLowerCase();
      if (["true", "1", "t"].includes(v)) out.push(`--${name}`);
      else if (!["false", "0", "f"].includes(v)) out.push(a); // the parser names the mistake
      continue;
    }
    out.push(a);
  }
  return { args: out, warnings };
}

/** Weave's --log-level values (logrus names) → the weavets logger's levels. */
export const LOG_LEVELS: Readonly<Record<string, "debug" | "info" | "warn" | "error">> = {
  trace: "debug",
  debug: "debug",
  info: "info",
  warn: "warn",
  warning: "warn",
  error: "error",
  fatal: "error",
  panic: "error",
};

/** "false", "no", "off": values an operator means as off but Weave (and so weavets) takes as on. */
export function looksOff(v: string): boolean {
  return ["false", "no", "off", "n"].includes(v.trim().toLowerCase());
}

export function onUnlessZero(name: string, v: string): string {
  return `${name}="${v}" means on, as in Weave Net (only "0" turns it off); set ${name}=0 for off`;
}

/**
 * Weave's --trusted-subnets: comma-separated CIDRs; host bits are masked as Go's net.ParseCIDR
 * does ("10.1.2.3/16" is 10.1.0.0/16). Empty: none.
 */
export function parseTrustedSubnets(text: string): string[] {
  if (text.trim() === "") return [];
  const out: string[] = [];
  for (const part of text.split(",")) {
    const c = canonical(parseCidr(part.trim()));
    const f = formatCidr(c);
    if (!out.includes(f)) out.push(f);
  }
  return out;
}

/**
 * WEAVE_EXPOSE_IP as `weave expose` took it: "a.b.c.d/len" or "ip:a.b.c.d/len"; a bare address
 * gets the range's prefix length (it must be inside the range either way: it is the pods'
 * gateway).
 */
export function exposeCidr(text: string, range: string): string {
  const t = text.startsWith("ip:") ? text.slice(3) : text;
  if (t.startsWith("net:")) {
    throw new Error(
      `"${text}": a subnet to allocate from is not supported; give the address (a.b.c.d/len), ` +
        "or leave it unset to allocate one from the range",
    );
  }
  const r = parseCidr(range);
  const c = parseCidr(t.includes("/") ? t : `${t}/${r.prefix}`);
  if (!cidrContains(r, c.ip)) throw new Error(`"${text}" is not inside the pod range ${range}`);
  return formatCidr(c);
}

/** Flags the manifest fills from variables: empty means the default (launch.sh's ${VAR:-x}). */
export const EMPTY_IS_DEFAULT: ReadonlySet<string> = new Set([
  "nickname",
  "conn-limit",
  "ipalloc-range",
  "ipalloc-init",
  "mtu",
  "log-level",
]);

/** At most 64 UTF-8 bytes (the topology's limit), cut at a character; a warning when cut. */
export function shortNickname(nick: string, source: string, warnings: string[]): string {
  const enc = new TextEncoder();
  if (enc.encode(nick).length <= 64) return nick;
  let out = "";
  for (const ch of nick) {
    if (enc.encode(out + ch).length > 64) break;
    out += ch;
  }
  warnings.push(`${source}: "${nick}" is longer than 64 bytes; the nickname is "${out}"`);
  return out;
}
