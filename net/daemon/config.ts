/**
 * `weavets daemon` configuration: flags first, then the Weave Net environment variables, then
 * defaults. Every value is validated here, once; an error names the flag or variable it came from.
 * Pure apart from the HostFacts passed in (machine id, hostname, reading a password file).
 */
import { describeCause } from "../cause.ts";
import { parseArgs } from "node:util";
import { z } from "zod";
import {
  canonical,
  cidrContainsCidr,
  formatCidr,
  isIPv4,
  networkOf,
  parseCidr,
} from "../addr/mod.ts";
import { parseListenAddress } from "../api/listen_address.ts";
import type { PeerName } from "../mesh/gossip_channel.ts";
import { parseInit } from "../ipam/init_mode.ts";
import {
  parsePeerName,
  PeerNameError,
  peerNameFromNodeName,
  weaveSystemPeerName,
} from "../mesh/peer_name.ts";
import { DEFAULT_PORT, parsePeerAddress } from "../mesh/peer_address.ts";
import { ConfigError } from "./config_error.ts";
import { parsePassword, type PasswordConfig } from "./password.ts";
import {
  EMPTY_IS_DEFAULT,
  exposeCidr,
  LOG_LEVELS,
  looksOff,
  onUnlessZero,
  parseTrustedSubnets,
  rewriteWeaveArgs,
  shortNickname,
} from "./weave_flags.ts";
import { DAEMON_OPTIONS } from "./daemon_usage.ts";

export { ConfigError };
export { DAEMON_OPTIONS, DAEMON_USAGE } from "./daemon_usage.ts";

/** What the daemon core (mesh, API, metrics) needs; components read the rest of DaemonConfig. */
export type CoreConfig =
  & Pick<
    DaemonConfig,
    | "name"
    | "nickname"
    | "host"
    | "port"
    | "httpAddr"
    | "metricsAddr"
    | "datadir"
    | "password"
    | "clusterSecret"
    | "connLimit"
    | "peers"
  >
  & Partial<Pick<DaemonConfig, "statusAddr" | "trustedSubnets">>;

export interface DaemonConfig extends PasswordConfig {
  /**
   * --name; else with --kube from the node name; else Weave's (machine id + product UUID).
   * Null: none of those: a random name kept in the datadir, made at start.
   */
  name: PeerName | null;
  /** What to do: run, or print the peer name (Weave's --print-peer-name) and exit. */
  action: "run" | "print-peer-name";
  /** --log-level (Weave's names accepted), else WEAVETS_LOG_LEVEL, else info. */
  logLevel: "debug" | "info" | "warn" | "error";
  /** This node's Kubernetes name: NODE_NAME, else HOSTNAME (as Weave's launch.sh), else hostname. */
  nodeName: string;
  nickname: string;
  host: string;
  port: number;
  httpAddr: string;
  /** Null disables the metrics listener. */
  metricsAddr: string | null;
  datadir: string;
  /**
   * With --kube and no password: the cluster secret that authenticates the control plane, read
   * from the API at start (net/kube/secrets.ts); never from flags.
   */
  clusterSecret?: string | null;
  /** 0: unlimited. */
  connLimit: number;
  peers: string[];
  /** Weave's --status-addr (WEAVE_STATUS_ADDR): status and metrics, read-only; null: off. */
  statusAddr: string | null;
  /** False with --no-discovery: dial only the peers given, never ones learnt from the topology. */
  discovery: boolean;
  /**
   * Weave's --trusted-subnets, canonical CIDRs: peers whose underlay address is inside one may
   * use the unencrypted fast path even with a password when both ends trust each other
   * (net/mesh/trust.ts: the handshake says it, the data plane's plan.ts uses it).
   */
  trustedSubnets: string[];
  /** Weave's --ipalloc-default-subnet: where addresses are allocated when no subnet is asked. */
  ipallocDefaultSubnet: string | null;
  /** The cluster's pod range, split among peers (IPAM). */
  ipallocRange: string;
  /** IPAM initial ownership: "consensus", "consensus=N", "seed=NAME,..." or "observer". */
  ipallocInit: string;
  /** The node bridge pods attach to. */
  bridge: string;
  /** The bridge's own address (gateway of the pods); null: allocated from IPAM. */
  bridgeCidr: string | null;
  /** Kernel VXLAN fast path allowed. */
  fastdp: boolean;
  fastdpPort: number;
  /** Pod MTU; null: detected from the underlay. */
  mtu: number | null;
  /** Keep client source addresses for traffic to this node's pods (Weave's NO_MASQ_LOCAL). */
  noMasqLocal: boolean;
  /** Discover peers from the Kubernetes API and reclaim dead nodes' addresses. */
  kube: boolean;
  /** Outside a cluster: the kubeconfig to use with --kube. */
  kubeconfig: string | null;
  /** Enforce NetworkPolicies (with --kube; off with --no-npc or EXPECT_NPC=0). */
  npc: boolean;
}

export interface HostFacts {
  /** The machine id file's content as read (trailing newline included, as Weave hashes it). */
  machineId(): string | null;
  /** /sys/class/dmi/id/product_uuid (else /sys/hypervisor/uuid) as read; null if neither. */
  systemUuid?(): string | null;
  hostname(): string;
  readFile(path: string): string;
}

const intIn = (min: number, max: number) =>
  z.string().regex(/^\d+$/, `must be an integer from ${min} to ${max}`).transform(Number)
    .refine((n) => n >= min && n <= max, `must be an integer from ${min} to ${max}`);

/** Validates `raw` with `schema`; on failure a ConfigError naming `source` and the value. */
function check<T>(source: string, raw: string, schema: z.ZodType<T>): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  throw new ConfigError(`${source}: ${r.error.issues[0].message}, got "${raw}"`);
}

function via<T>(source: string, raw: string, fn: (s: string) => T): T {
  try {
    return fn(raw);
  } catch (e) {
    throw new ConfigError(`${source}: ${describeCause(e)}`);
  }
}

/** Parses the daemon's arguments; returns null when --help was asked for. */
export function parseDaemonConfig(
  args: string[],
  env: Record<string, string | undefined>,
  host: HostFacts,
): DaemonConfig | null {
  // Weave-only flags (Docker, ODP, Weave Cloud) dropped with a warning each: EXTRA_ARGS written
  // for Weave Net must not stop the daemon.
  const booleans = new Set(
    Object.entries(DAEMON_OPTIONS).filter(([, o]) => o.type === "boolean").map(([k]) => k),
  );
  const weave = rewriteWeaveArgs(args, booleans);
  let parsed;
  try {
    parsed = parseArgs({
      args: weave.args,
      options: DAEMON_OPTIONS,
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new ConfigError(`${describeCause(e)} (see weavets daemon --help)`);
  }
  const v = parsed.values;
  if (v.help) return null;
  // A flag wins over its variable; an empty variable counts as unset (as in Weave's scripts).
  // Flags the manifest fills from a variable ("--conn-limit=$CONN_LIMIT") count as unset when
  // empty, as Weave's launch.sh defaults an empty variable (${CONN_LIMIT:-200}).
  const pick = (flag: keyof typeof v, envName?: string): [string, string] | null => {
    const f = v[flag];
    if (typeof f === "boolean") return [`--${flag}`, String(f)];
    if (typeof f === "string" && (f !== "" || !EMPTY_IS_DEFAULT.has(flag))) return [`--${flag}`, f];
    const e = envName ? env[envName] : undefined;
    return e !== undefined && e !== "" ? [envName!, e] : null;
  };

  const levelArg = pick("log-level", "WEAVETS_LOG_LEVEL");
  const logLevel = levelArg
    ? check(
      levelArg[0],
      levelArg[1].toLowerCase(),
      z.string().refine(
        (l) => Object.hasOwn(LOG_LEVELS, l),
        "must be debug, info, warning or error",
      )
        .transform((l) => LOG_LEVELS[l]),
    )
    : "info";

  const kube = v.kube === true;
  const nodeName = env.NODE_NAME?.trim() || env.HOSTNAME?.trim() || host.hostname();

  let name: PeerName | null = null;
  const nameArg = pick("name");
  if (nameArg) name = via(nameArg[0], nameArg[1], parsePeerName);
  else if (kube && nodeName) name = peerNameFromNodeName(nodeName);
  else {
    try {
      name = weaveSystemPeerName(host.machineId(), host.systemUuid?.() ?? null);
    } catch (e) {
      if (!(e instanceof PeerNameError)) throw e;
    }
  }

  // Weave takes any nickname; the wire carries 64 bytes. A longer one (Kubernetes node names
  // reach 253 characters) is shortened with a warning instead of stopping the daemon.
  const nickArg = pick("nickname");
  const nickWarnings: string[] = [];
  const nickname = shortNickname(
    nickArg
      ? check(
        nickArg[0],
        nickArg[1],
        z.string().regex(/^[^\s\p{C}]+$/u, "must be printable characters without spaces"),
      )
      : env.HOSTNAME?.trim() || host.hostname() || "unknown",
    nickArg?.[0] ?? "the hostname",
    nickWarnings,
  );

  const hostArg = pick("host");
  const listenHost = hostArg
    ? check(hostArg[0], hostArg[1], z.string().refine(isIPv4, "must be an IPv4 address"))
    : "0.0.0.0";

  const portArg = pick("port");
  const port = portArg ? check(portArg[0], portArg[1], intIn(1, 65535)) : 6783;

  const httpArg = pick("http-addr", "WEAVE_HTTP_ADDR");
  const httpAddr = httpArg
    ? (via(httpArg[0], httpArg[1], parseListenAddress), httpArg[1])
    : "127.0.0.1:6784";

  // An explicitly empty --metrics-addr or WEAVE_METRICS_ADDR disables metrics.
  let metricsAddr: string | null = "0.0.0.0:6782";
  const metricsRaw = typeof v["metrics-addr"] === "string"
    ? ["--metrics-addr", v["metrics-addr"]]
    : env.WEAVE_METRICS_ADDR !== undefined
    ? ["WEAVE_METRICS_ADDR", env.WEAVE_METRICS_ADDR]
    : null;
  if (metricsRaw) {
    metricsAddr = metricsRaw[1] === ""
      ? null
      : (via(metricsRaw[0], metricsRaw[1], parseListenAddress), metricsRaw[1]);
  }

  const dirArg = pick("datadir");
  const datadir = dirArg
    ? check(dirArg[0], dirArg[1], z.string().min(1, "must not be empty"))
    : "/var/lib/weavets";

  const secrets = parsePassword(
    {
      password: typeof v.password === "string" ? v.password : undefined,
      passwordFile: typeof v["password-file"] === "string" ? v["password-file"] : undefined,
      kube: v.kube === true,
    },
    env,
    host.readFile,
  );

  const limitArg = pick("conn-limit", "CONN_LIMIT");
  const connLimit = limitArg ? check(limitArg[0], limitArg[1], intIn(0, 100_000)) : 200;

  const peers: string[] = [];
  for (const p of parsed.positionals) {
    via(`peer address "${p}"`, p, (s) => parsePeerAddress(s, DEFAULT_PORT)), peers.push(p);
  }
  for (const p of (env.KUBE_PEERS ?? "").split(/\s+/).filter(Boolean)) {
    via("KUBE_PEERS", p, (s) => parsePeerAddress(s, DEFAULT_PORT));
    peers.push(p);
  }

  const rangeArg = pick("ipalloc-range", "IPALLOC_RANGE");
  const ipallocRange = rangeArg
    ? via(rangeArg[0], rangeArg[1], (r) => {
      const c = parseCidr(r);
      if (c.prefix > 30) throw new Error(`"${r}" is too small for a pod range (at most /30)`);
      if (networkOf(c) !== c.ip) {
        throw new Error(`"${r}" has host bits set; did you mean ${formatCidr(canonical(c))}?`);
      }
      return r;
    })
    : "10.32.0.0/12";

  const dsArg = pick("ipalloc-default-subnet");
  const ipallocDefaultSubnet = dsArg
    ? via(dsArg[0], dsArg[1], (t) => {
      const c = parseCidr(t);
      const range = parseCidr(ipallocRange);
      if (!cidrContainsCidr(range, canonical(c))) {
        throw new Error(`"${t}" is not inside the allocation range ${ipallocRange}`);
      }
      return formatCidr(canonical(c));
    })
    : null;

  const initArg = pick("ipalloc-init", "IPALLOC_INIT");
  // Checked now; consensus's N is resolved when IPAM starts (it may come from Kubernetes).
  // Weave's consensus=0 (weave-kube passes it on a one-node cluster) means "guess from the
  // peers", as plain consensus does here.
  const ipallocInit = initArg
    ? via(initArg[0], initArg[1], (t) => t === "consensus=0" ? "consensus" : (parseInit(t, 1), t))
    : "consensus";

  const tsArg = pick("trusted-subnets");
  const trustedSubnets = tsArg ? via(tsArg[0], tsArg[1], parseTrustedSubnets) : [];

  const statusArg = pick("status-addr", "WEAVE_STATUS_ADDR");
  const statusAddr = statusArg
    ? (via(statusArg[0], statusArg[1], parseListenAddress), statusArg[1])
    : null;

  const discovery = v["no-discovery"] !== true;

  const bridgeArg = pick("bridge") ?? pick("weave-bridge");
  const bridge = bridgeArg
    ? check(
      bridgeArg[0],
      bridgeArg[1],
      z.string().regex(/^[a-zA-Z0-9_.-]{1,15}$/, "must be an interface name of 1 to 15 characters"),
    )
    : "weave";

  const bcArg = pick("bridge-cidr", "WEAVE_EXPOSE_IP");
  const bridgeCidr = bcArg ? via(bcArg[0], bcArg[1], (c) => exposeCidr(c, ipallocRange)) : null;

  // Weave's scripts: WEAVE_NO_FASTDP set to anything non-empty turns the fast path off.
  const fastdp = !(v["no-fastdp"] === true || (env.WEAVE_NO_FASTDP ?? "") !== "");
  const fpArg = pick("fastdp-port");
  const fastdpPort = fpArg ? check(fpArg[0], fpArg[1], intIn(1, 65535)) : 6784;

  const mtuArg = pick("mtu", "WEAVE_MTU");
  const mtu = mtuArg ? check(mtuArg[0], mtuArg[1], intIn(576, 65535)) : null;

  const warnings = [...weave.warnings, ...nickWarnings, ...secrets.warnings];
  // Weave's launch.sh: NO_MASQ_LOCAL and EXPECT_NPC are on unless exactly "0".
  const nmlRaw = env.NO_MASQ_LOCAL ?? "";
  if (looksOff(nmlRaw)) warnings.push(onUnlessZero("NO_MASQ_LOCAL", nmlRaw));
  const noMasqLocal = v["no-masq-local"] === true || nmlRaw !== "0";

  const kubeconfig = typeof v.kubeconfig === "string" ? v.kubeconfig : null;
  if (kubeconfig !== null && !kube) throw new ConfigError("--kubeconfig: only with --kube");

  // The policy controller needs the API (--kube); EXPECT_NPC=0 or --no-npc turn it off.
  const npcRaw = env.EXPECT_NPC ?? "";
  if (looksOff(npcRaw)) warnings.push(onUnlessZero("EXPECT_NPC", npcRaw));
  if (v["expect-npc"] === true && v["no-npc"] === true) {
    throw new ConfigError("--expect-npc and --no-npc: give only one");
  }
  if (v["expect-npc"] === true && !kube) {
    warnings.push(
      "--expect-npc: NetworkPolicies are enforced only with --kube (they come from the API)",
    );
  }
  const npc = kube && v["no-npc"] !== true && (v["expect-npc"] === true || npcRaw !== "0");

  return {
    name,
    action: v["print-peer-name"] === true ? "print-peer-name" : "run",
    logLevel,
    nodeName,
    nickname,
    host: listenHost,
    port,
    httpAddr,
    metricsAddr,
    datadir,
    ...secrets,
    warnings,
    connLimit,
    peers,
    statusAddr,
    discovery,
    trustedSubnets,
    ipallocDefaultSubnet,
    ipallocRange,
    ipallocInit,
    bridge,
    bridgeCidr,
    fastdp,
    fastdpPort,
    mtu,
    noMasqLocal,
    kube,
    kubeconfig,
    npc,
  };
}
