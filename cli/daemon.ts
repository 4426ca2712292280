/**
 * `weavets daemon`: runs this node's peer until SIGTERM or SIGINT. Flags and environment are
 * parsed by net/daemon/config.ts; features plug in as components (see `components` below).
 */
import {
  ConfigError,
  DAEMON_USAGE,
  type DaemonConfig,
  parseDaemonConfig,
} from "../net/daemon/config.ts";
import type { DaemonComponent } from "../net/daemon/component.ts";
import { startDaemon } from "../net/daemon/daemon.ts";
import { scrubEnv } from "../net/daemon/scrub_env.ts";
import { createDataplane } from "../net/dataplane/dataplane.ts";
import { createExpose } from "../net/dataplane/node/expose.ts";
import { apiRulePort } from "../net/dataplane/node/allowlist.ts";
import { createInputFilter } from "../net/dataplane/node/input_filter.ts";
import { createForwardFilter, nodeForwardIo } from "../net/dataplane/node/forward_filter.ts";
import { parseListenAddress } from "../net/api/listen_address.ts";
import { runNft } from "../net/linux/nftables.ts";
import { actualFdb, vxlanName } from "../net/dataplane/fastpath/vxlan.ts";
import { ipamComponent } from "../net/ipam/component.ts";
import type { IpamService } from "../net/ipam/service.ts";
import { IpamStore } from "../net/ipam/store.ts";
import {
  KubeClient,
  type KubeHandle,
  kubeNodeName,
  kubePeerKeys,
  loadKubeConfig,
  startKube,
} from "../net/kube/mod.ts";
import { describeCause } from "../net/cause.ts";
import { kindOf } from "../net/errors.ts";
import { CONFIGMAP_NAMESPACE } from "../net/kube/peers.ts";
import { CLUSTER_SECRET, resolveMeshSecrets } from "../net/kube/secrets.ts";
import { log as rootLog, type Logger } from "../net/log.ts";
import { createCniServer } from "../cni/server.ts";
import { addressesOf, answerInProcess } from "../cni/ipam/daemon_api.ts";
import { createNpc } from "../net/npc/component.ts";
import { npcOffComponent } from "../net/npc/off.ts";
import { safeStart, WeaveAliveError } from "../net/weave/preflight.ts";
import { weavePodsOn } from "../net/weave/observe.ts";
import { createExistingClaims } from "../net/weave/existing_claims.ts";
import { bridgeCidrs, readResultCache, scanBridge } from "../net/weave/existing_scan.ts";
import { exitCodeFor, UsageError } from "./command.ts";

/** The features this build runs inside the daemon, in start order. */
export function components(
  config: DaemonConfig,
  env: { get(key: string): string | undefined } = Deno.env,
): DaemonComponent[] {
  // One API client for the components that use it; made when the first one starts.
  let client: KubeClient | undefined;
  const kubeClient = () =>
    client ??= new KubeClient(loadKubeConfig({ kubeconfig: config.kubeconfig ?? undefined }));
  const kube = config.kube ? kubeComponent(config, env, kubeClient) : undefined;
  const ipamPart = ipamComponent({
    range: config.ipallocRange,
    init: config.ipallocInit,
    // Weave's default quorum: the initial peers plus this one (with --kube: the nodes listed
    // at start, known once the kube component has started).
    expectedPeers: () => (kube?.initialTargets() ?? config.peers.length) + 1,
    defaultSubnet: config.ipallocDefaultSubnet ?? undefined,
    datadir: config.datadir,
    log: rootLog,
  });
  const ipam = ipamPart.service;
  // UDP to the data ports only from peers (issue 13); before the data plane, so its ports never
  // open unfiltered. It follows the peers' records the data plane gossips.
  const sleevePort = 6783;
  const inputFilter = createInputFilter({
    sleevePort,
    fastdpPort: config.fastdpPort,
    apiPort: apiRulePort(parseListenAddress(config.httpAddr)),
    records: () => dataplane.peerRecords(),
    kernelPeers: () => actualFdb(vxlanName(config.fastdpPort)).map((e) => e.dst),
    log: rootLog.with({ component: "input-filter" }),
    nft: runNft,
  });
  const dataplane = createDataplane({
    sleevePort,
    onPeerRecords: () => inputFilter.changed(),
    bridge: config.bridge,
    bridgeCidr: config.bridgeCidr ?? undefined,
    podCidr: config.ipallocRange,
    // NO_MASQ_LOCAL: traffic to this node's pods keeps its source address.
    localRanges: config.noMasqLocal ? () => ipam.ownedRanges() : undefined,
    fastdp: config.fastdp,
    fastdpPort: config.fastdpPort,
    mtu: config.mtu ?? undefined,
    encrypted: config.password !== null,
    trustedSubnets: config.trustedSubnets,
    underlayAddr: config.host !== "0.0.0.0" ? config.host : undefined,
  });
  const expose = createExpose({
    bridge: config.bridge,
    allocate: (id) => ipam.allocateCidr({ id, ifname: "" }),
    ipamReady: () => ipam.ready() === null,
    log: rootLog.with({ component: "expose" }),
  });
  const networkReady = () =>
    ipam.ready() === null && dataplane.ready() === null && expose.ready() === null;
  kube?.connect({ ipam, networkReady });
  const npc = config.npc
    ? createNpc({
      node: kubeNodeName(env),
      client: kubeClient,
      localRanges: () => ipam.ownedRanges(),
      log: rootLog.with({ component: "npc" }),
    })
    : undefined;
  // kube first: a peer whose node was removed must forget its IPAM state before IPAM opens it.
  // Last: pod events are served once everything they use is up, and stop being served first;
  // npc binds each new pod's address before its ADD is answered.
  const cni = createCniServer({
    log: rootLog.with({ component: "cni" }),
    ...(npc
      ? { onPodAdded: (p) => npc.podAdded(p), onPodDeleted: (id) => npc.podDeleted(id) }
      : {}),
  });
  const policy = npc ??
    (config.kube ? npcOffComponent(rootLog.with({ component: "npc" })) : undefined);
  return [
    ...(kube ? [kube] : []),
    ipamPart,
    // Addresses already in use on the bridge (Weave's pods, a restart's) claimed before any pod
    // event is served, so IPAM never hands one out again (issue 17).
    createExistingClaims({
      bridge: config.bridge,
      ipam,
      log: rootLog.with({ component: "existing-addresses" }),
      scan: { bridgeCidrs, pods: scanBridge, cache: () => readResultCache() },
    }),
    inputFilter,
    dataplane,
    // Pod traffic accepted in the host's forward chains (a FORWARD policy DROP; issue 17).
    createForwardFilter({
      bridge: config.bridge,
      io: nodeForwardIo(),
      log: rootLog.with({ component: "forward" }),
    }),
    expose,
    ...(policy ? [policy] : []),
    cni,
  ];
}

interface KubeComponent extends DaemonComponent {
  /** How many peers the Node list named at start (IPAM's consensus size). */
  initialTargets(): number | undefined;
  connect(deps: { ipam: IpamService; networkReady: () => boolean }): void;
}

/** `--kube`: peers from the Node list, reclaim of deleted nodes' space, the node condition. */
function kubeComponent(
  config: DaemonConfig,
  env: { get(key: string): string | undefined },
  kubeClient: () => KubeClient,
): KubeComponent {
  const log = rootLog.with({ component: "kube" });
  const abort = new AbortController();
  let handle: KubeHandle | undefined;
  let client: KubeClient | undefined;
  let initial: number | undefined;
  let deps: { ipam: IpamService; networkReady: () => boolean } | undefined;
  return {
    name: "kube",
    initialTargets: () => initial,
    connect(d) {
      deps = d;
    },
    async start(mesh) {
      client = kubeClient();
      // Keys come from the Nodes (published by each peer on its own; deploy/weavets.yaml).
      mesh.trustOnlyVouchedKeys();
      handle = await startKube({
        client,
        nodeName: kubeNodeName(env),
        peerName: mesh.self,
        log,
        peerKeys: kubePeerKeys(mesh, log),
        signal: abort.signal,
        onTargets(addrs) {
          initial ??= addrs.length;
          mesh.setTargets?.(addrs);
        },
        rmpeer(peer) {
          const r = deps!.ipam.removePeer(peer);
          return r.ok ? Promise.resolve(r.taken) : Promise.reject(new Error(r.error));
        },
        async resetLocalState() {
          // Throws when the state cannot be deleted: starting with it could duplicate addresses.
          await IpamStore.destroy(config.datadir);
          log.warn(
            "this node's peer was removed from the cluster: starting with fresh IPAM state",
            { datadir: config.datadir },
          );
        },
        networkReady: () => deps?.networkReady() ?? false,
      });
    },
    async stop() {
      abort.abort();
      await handle?.stop();
      client?.close();
    },
  };
}

/** With --kube and no password on the command line: the password or cluster secret (API). */
async function kubeSecrets(config: DaemonConfig, log: Logger): Promise<DaemonConfig> {
  const client = new KubeClient(loadKubeConfig({ kubeconfig: config.kubeconfig ?? undefined }));
  try {
    const s = await resolveMeshSecrets(client, CONFIGMAP_NAMESPACE, config.passwordSecret);
    if (s.password !== null) {
      log.info("password from a Kubernetes Secret: peers authenticated, traffic encrypted", {
        secret: s.passwordFrom,
      });
    } else {
      log.info(
        "no password Secret (weavets-passwd or weave-passwd): the control plane is authenticated " +
          "by the cluster secret; the data path is not encrypted",
        { secret: CLUSTER_SECRET },
      );
    }
    return { ...config, password: s.password, clusterSecret: s.clusterSecret };
  } finally {
    client.close();
  }
}

/** The first of `paths` that exists, as read (Weave hashes the bytes, newline included). */
function readFirst(paths: string[]): string | null {
  for (const p of paths) {
    try {
      return Deno.readTextFileSync(p);
    } catch (e) {
      // Weave takes the next file only when one does not exist; unreadable is worth a warning.
      if (!(e instanceof Deno.errors.NotFound)) {
        rootLog.warn("cannot read a system id for the peer name", { file: p, cause: String(e) });
      }
    }
  }
  return null;
}

/** net/weave/preflight.ts with this daemon's ports (and with --kube, its node's pods). */
async function preflight(config: DaemonConfig, log: Logger): Promise<void> {
  let client: KubeClient | undefined;
  try {
    await safeStart({
      ...config,
      pods: config.kube
        ? () => {
          client = new KubeClient(loadKubeConfig({ kubeconfig: config.kubeconfig ?? undefined }));
          return weavePodsOn(client, kubeNodeName());
        }
        : undefined,
      log,
    });
  } finally {
    client?.close();
  }
}

export async function run(args: string[]): Promise<number> {
  let config: DaemonConfig | null;
  try {
    config = parseDaemonConfig(args, Deno.env.toObject(), {
      machineId: () => readFirst(["/etc/machine-id", "/var/lib/dbus/machine-id"]),
      systemUuid: () => readFirst(["/sys/class/dmi/id/product_uuid", "/sys/hypervisor/uuid"]),
      hostname: () => Deno.hostname(),
      readFile: (p) => Deno.readTextFileSync(p),
    });
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
  // Read once; no child process (nft, ip) may inherit it, nor /proc/<pid>/environ show it.
  scrubEnv("WEAVE_PASSWORD");
  if (config === null) {
    console.log(DAEMON_USAGE);
    return 0;
  }
  rootLog.setLevel(config.logLevel);
  if (config.action === "print-peer-name") {
    console.log(config.name ?? "(none yet: a random name is made at the first start)");
    return 0;
  }
  const log = rootLog.with({ component: "daemon" });
  for (const w of config.warnings) log.warn(w);
  let daemon;
  try {
    // First, before any network state is touched: a live Weave Net (or anything on our ports)
    // is refused with the node left as it was (issue 17).
    await preflight(config, log);
    if (config.kube && config.password === null) config = await kubeSecrets(config, log);
    daemon = await startDaemon(config, {
      log: rootLog,
      components: components(config),
      mesh: { discoverOnlyTargetHosts: config.kube, discovery: config.discovery },
    });
  } catch (e) {
    if (e instanceof WeaveAliveError) {
      log.error(e.message, { evidence: e.verdict.evidence });
      return 1;
    }
    // A configuration the operator must fix (a key file, a Secret, an IPAM mode) exits 2 as a
    // bad flag does; anything else 1.
    log.error("cannot start", { error: describeCause(e) });
    return exitCodeFor(kindOf(e));
  }
  // Pod events this daemon serves reach its IPAM API in-process, not over loopback HTTP.
  const local = answerInProcess(addressesOf(daemon.httpAddr), daemon.api);
  log.info("started", {
    name: daemon.mesh.self,
    nickname: config.nickname,
    uid: daemon.mesh.uid,
    peers: config.peers,
  });
  const signal = await new Promise<string>((resolve) => {
    for (const s of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(s, () => resolve(s));
  });
  log.info("shutting down", { signal });
  local();
  await daemon.stop();
  log.info("stopped");
  return 0;
}
