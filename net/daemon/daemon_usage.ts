/**
 * `weavets daemon`'s flags (node:util parseArgs options) and its help text. Weave Net 2.8.1's
 * flag names are accepted with Weave's meaning where weavets has one (docs/WEAVE-COMPAT.md); its
 * Docker-only and Open vSwitch flags are dropped with a warning (weave_flags.ts).
 */

export const DAEMON_USAGE = `usage: weavets daemon [flags] [PEER_ADDRESS[:PORT] ...]

flags (environment variable used when the flag is absent):
  --name NAME              peer name, 6 bytes like aa:bb:cc:dd:ee:ff (default: with --kube from
                           the node name, else from /etc/machine-id and the DMI product UUID as
                           Weave Net derives it)
  --nickname NAME          shown next to the name (default: HOSTNAME, else the hostname)
  --host IP                listen address for peers (default 0.0.0.0)
  --port PORT              control TCP port (default 6783)
  --http-addr ADDR         status and IPAM API, IP:PORT or a Unix socket path [WEAVE_HTTP_ADDR]
                           (default 127.0.0.1:6784)
  --status-addr ADDR       read-only status and metrics, IP:PORT or a socket path
                           [WEAVE_STATUS_ADDR] (default: off)
  --metrics-addr ADDR      Prometheus /metrics, empty disables [WEAVE_METRICS_ADDR] (default 0.0.0.0:6782)
  --datadir DIR            persistent state (default /var/lib/weavets)
  --password-file FILE     authenticate peers and encrypt traffic with the password in FILE
  --password PW            the same, on the command line (warns: use --password-file)
                           [WEAVE_PASSWORD; with --kube also WEAVE_PASSWORD_SECRET, a Secret]
  --trusted-subnets CIDRS  comma-separated: peers inside them may skip encryption (fast path)
  --conn-limit N           maximum connections, 0 unlimited [CONN_LIMIT] (default 200)
  --no-discovery           dial only the peers given, not those learnt from other peers
  --ipalloc-range CIDR     the pods' address range [IPALLOC_RANGE] (default 10.32.0.0/12)
  --ipalloc-default-subnet CIDR
                           allocate here when no subnet is asked (inside the range; default: it)
  --ipalloc-init MODE      consensus[=N] | seed=NAME,... | observer [IPALLOC_INIT] (default consensus)
  --bridge NAME            the node bridge, also --weave-bridge (default weave)
  --bridge-cidr CIDR       the bridge's address [WEAVE_EXPOSE_IP] (default: allocated from the range)
  --no-fastdp              never use the kernel VXLAN fast path [WEAVE_NO_FASTDP]
  --fastdp-port PORT       VXLAN UDP port (default 6784)
  --mtu N                  pod MTU [WEAVE_MTU] (default: underlay MTU minus overhead)
  --no-masq-local          keep client source addresses for local pods (the default) [NO_MASQ_LOCAL]
  --log-level LEVEL        debug, info, warning or error [WEAVETS_LOG_LEVEL] (default info)
  --kube                   peers from the Kubernetes API; reclaim deleted nodes' addresses
  --kubeconfig FILE        with --kube outside a cluster (default: in-cluster service account)
  --no-npc                 with --kube, do not enforce NetworkPolicies [EXPECT_NPC=0]
  --expect-npc             with --kube, enforce NetworkPolicies (the default)
  --print-peer-name        print this node's peer name and exit
peers are also taken from KUBE_PEERS (space-separated). NO_MASQ_LOCAL=0 masquerades traffic to
local pods too (default: keep client source addresses, as Weave Net does on Kubernetes). Weave
Net's Docker, DNS, plugin and Open vSwitch flags are ignored with a warning.`;

export const DAEMON_OPTIONS = {
  name: { type: "string" },
  nickname: { type: "string" },
  host: { type: "string" },
  port: { type: "string" },
  "http-addr": { type: "string" },
  "status-addr": { type: "string" },
  "metrics-addr": { type: "string" },
  datadir: { type: "string" },
  password: { type: "string" },
  "password-file": { type: "string" },
  "trusted-subnets": { type: "string" },
  "conn-limit": { type: "string" },
  "no-discovery": { type: "boolean" },
  "ipalloc-range": { type: "string" },
  "ipalloc-default-subnet": { type: "string" },
  "ipalloc-init": { type: "string" },
  bridge: { type: "string" },
  "weave-bridge": { type: "string" },
  "bridge-cidr": { type: "string" },
  "no-fastdp": { type: "boolean" },
  "fastdp-port": { type: "string" },
  mtu: { type: "string" },
  "no-masq-local": { type: "boolean" },
  "log-level": { type: "string" },
  kube: { type: "boolean" },
  kubeconfig: { type: "string" },
  "no-npc": { type: "boolean" },
  "expect-npc": { type: "boolean" },
  "print-peer-name": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;
