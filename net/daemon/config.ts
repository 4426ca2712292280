/**
 * `weavets daemon` configuration: flags first, then the Weave Net environment variables, then
 * defaults. Every value is validated here, once; an error names the flag or variable it came from.
 * Pure apart from the HostFacts passed in (machine id, hostname, reading a password file).
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { canonical, formatCidr, isIPv4, networkOf, parseCidr } from "../addr/mod.ts";
import { parseListenAddress } from "../api/listen_address.ts";
import type { PeerName } from "../mesh/gossip_channel.ts";
import { parseInit } from "../ipam/init_mode.ts";
import { parsePeerName, peerNameFromMachineId } from "../mesh/peer_name.ts";
import { DEFAULT_PORT, parsePeerAddress } from "../mesh/peer_address.ts";
import { ConfigError } from "./config_error.ts";
import { parsePassword, type PasswordConfig } from "./password.ts";

export { ConfigError };

/** What the daemon core (mesh, API, metrics) needs; components read the rest of DaemonConfig. */
export type CoreConfig = Pick<
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
>;

export interface DaemonConfig extends PasswordConfig {
  /** Null: derive it at start (no machine id): a random name kept in the datadir. */
  name: PeerName | null;
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
  machineId(): string | null;
  hostname(): string;
  readFile(path: string): string;
}

export const DAEMON_USAGE = `usage: weavets daemon [flags] [PEER_ADDRESS[:PORT] ...]

flags (environment variable used when the flag is absent):
  --name NAME              peer name, 6 bytes like aa:bb:cc:dd:ee:ff (default: from /etc/machine-id)
  --nickname NAME          shown next to the name (default: hostname)
  --host IP                listen address for peers (default 0.0.0.0)
  --port PORT              control TCP port (default 6783)
  --http-addr IP:PORT      status and IPAM API [WEAVE_HTTP_ADDR] (default 127.0.0.1:6784)
  --metrics-addr IP:PORT   Prometheus /metrics, empty disables [WEAVE_METRICS_ADDR] (default 0.0.0.0:6782)
  --datadir DIR            persistent state (default /var/lib/weavets)
  --password-file FILE     authenticate peers and encrypt traffic with the password in FILE
  --password PW            the same, on the command line (warns: use --password-file)
                           [WEAVE_PASSWORD; with --kube also WEAVE_PASSWORD_SECRET, a Secret]
  --conn-limit N           maximum connections, 0 unlimited [CONN_LIMIT] (default 200)
  --ipalloc-range CIDR     the pods' address range [IPALLOC_RANGE] (default 10.32.0.0/12)
  --ipalloc-init MODE      consensus[=N] | seed=NAME,... | observer [IPALLOC_INIT] (default consensus)
  --bridge NAME            the node bridge (default weave)
  --bridge-cidr CIDR       the bridge's address (default: allocated from the range)
  --no-fastdp              never use the kernel VXLAN fast path [WEAVE_NO_FASTDP]
  --fastdp-port PORT       VXLAN UDP port (default 6784)
  --mtu N                  pod MTU [WEAVE_MTU] (default: underlay MTU minus overhead)
  --kube                   peers from the Kubernetes API; reclaim deleted nodes' addresses
  --kubeconfig FILE        with --kube outside a cluster (default: in-cluster service account)
  --no-npc                 with --kube, do not enforce NetworkPolicies [EXPECT_NPC=0]
peers are also taken from KUBE_PEERS (space-separated). NO_MASQ_LOCAL=0 masquerades traffic to
local pods too (default: keep client source addresses, as Weave Net does on Kubernetes).`;

export const DAEMON_OPTIONS = {
  name: { type: "string" },
  nickname: { type: "string" },
  host: { type: "string" },
  port: { type: "string" },
  "http-addr": { type: "string" },
  "metrics-addr": { type: "string" },
  datadir: { type: "string" },
  password: { type: "string" },
  "password-file": { type: "string" },
  "conn-limit": { type: "string" },
  "ipalloc-range": { type: "string" },
  "ipalloc-init": { type: "string" },
  bridge: { type: "string" },
  "bridge-cidr": { type: "string" },
  "no-fastdp": { type: "boolean" },
  "fastdp-port": { type: "string" },
  mtu: { type: "string" },
  kube: { type: "boolean" },
  kubeconfig: { type: "string" },
  "no-npc": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

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
    throw new ConfigError(`${source}: ${(e as Error).message}`);
  }
}

/** Parses the daemon's arguments; returns null when --help was asked for. */
export function parseDaemonConfig(
  args: string[],
  env: Record<string, string | undefined>,
  host: HostFacts,
): DaemonConfig | null {
  let parsed;
  try {
    parsed = parseArgs({ args, options: DAEMON_OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  const v = parsed.values;
  if (v.help) return null;
  // A flag wins over its variable; an empty variable counts as unset (as in Weave's scripts).
  const pick = (flag: keyof typeof v, envName?: string): [string, string] | null => {
    const f = v[flag];
    if (typeof f === "boolean") return [`--${flag}`, String(f)];
    if (typeof f === "string") return [`--${flag}`, f];
    const e = envName ? env[envName] : undefined;
    return e !== undefined && e !== "" ? [envName!, e] : null;
  };

  let name: PeerName | null = null;
  const nameArg = pick("name");
  if (nameArg) name = via(nameArg[0], nameArg[1], parsePeerName);
  else {
    const id = host.machineId();
    if (id && id.trim()) name = peerNameFromMachineId(id);
  }

  const nickArg = pick("nickname");
  const nickname = nickArg
    ? check(
      nickArg[0],
      nickArg[1],
      z.string().regex(
        /^[^\s\p{C}]{1,64}$/u,
        "must be 1 to 64 printable characters without spaces",
      ),
    )
    : host.hostname().slice(0, 64) || "unknown";

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

  const initArg = pick("ipalloc-init", "IPALLOC_INIT");
  // Checked now; consensus's N is resolved when IPAM starts (it may come from Kubernetes).
  const ipallocInit = initArg
    ? via(initArg[0], initArg[1], (t) => (parseInit(t, 1), t))
    : "consensus";

  const bridgeArg = pick("bridge");
  const bridge = bridgeArg
    ? check(
      bridgeArg[0],
      bridgeArg[1],
      z.string().regex(/^[a-zA-Z0-9_.-]{1,15}$/, "must be an interface name of 1 to 15 characters"),
    )
    : "weave";

  const bcArg = pick("bridge-cidr");
  const bridgeCidr = bcArg ? via(bcArg[0], bcArg[1], (c) => (parseCidr(c), c)) : null;

  // Weave's scripts: WEAVE_NO_FASTDP set to anything non-empty turns the fast path off.
  const fastdp = !(v["no-fastdp"] === true || (env.WEAVE_NO_FASTDP ?? "") !== "");
  const fpArg = pick("fastdp-port");
  const fastdpPort = fpArg ? check(fpArg[0], fpArg[1], intIn(1, 65535)) : 6784;

  const mtuArg = pick("mtu", "WEAVE_MTU");
  const mtu = mtuArg ? check(mtuArg[0], mtuArg[1], intIn(576, 65535)) : null;

  const nmlRaw = env.NO_MASQ_LOCAL ?? "";
  if (!["", "0", "1", "true", "false"].includes(nmlRaw)) {
    throw new ConfigError(`NO_MASQ_LOCAL: must be 0 or 1, got "${nmlRaw}"`);
  }
  const noMasqLocal = !(nmlRaw === "0" || nmlRaw === "false");

  const kube = v.kube === true;
  const kubeconfig = typeof v.kubeconfig === "string" ? v.kubeconfig : null;
  if (kubeconfig !== null && !kube) throw new ConfigError("--kubeconfig: only with --kube");

  // Weave's EXPECT_NPC: "0" turns the policy controller off (it needs the API: --kube).
  const npcRaw = env.EXPECT_NPC ?? "";
  if (!["", "0", "1", "true", "false"].includes(npcRaw)) {
    throw new ConfigError(`EXPECT_NPC: must be 0 or 1, got "${npcRaw}"`);
  }
  const npc = kube && v["no-npc"] !== true && npcRaw !== "0" && npcRaw !== "false";

  return {
    name,
    nickname,
    host: listenHost,
    port,
    httpAddr,
    metricsAddr,
    datadir,
    ...secrets,
    connLimit,
    peers,
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
