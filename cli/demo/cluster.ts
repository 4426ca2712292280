/**
 * A whole weavets cluster on one machine: "nodes" are network namespaces joined by an underlay
 * bridge (inside a namespace of its own, so the host is never touched), each running a real
 * `weavets daemon`; "pods" are namespaces attached through the real CNI plugin.
 * Shared by `weavets demo` and the end-to-end tests. Everything it creates carries its prefix and
 * is removed by `teardown()`, also after a failure part-way.
 */
import {
  addAddress,
  createBridge,
  createNetns,
  createVeth,
  deleteNetns,
  inNetns,
  listAddresses,
  listLinks,
  netnsExists,
  netnsPath,
  setLinkDown,
  setLinkUp,
  setMaster,
} from "../../net/linux/mod.ts";
import { CniRuntime } from "./cni_runtime.ts";
import { removeNodeState } from "../../cni/node_state.ts";
import { execIn, type ExecResult, spawnIn } from "./exec.ts";
import { ping, type PingResult } from "./probes.ts";
import { lastError } from "./daemon_log.ts";

export type { PingResult };
export { have } from "./exec.ts";
export { namespacesWithPrefix } from "./prefix.ts";
import { checkPrefix, namespacesWithPrefix } from "./prefix.ts";
export type { Allocation, ClusterSpec, DaemonExit, Node, Pod } from "./cluster_types.ts";
import type { Allocation, ClusterSpec, DaemonExit, Node, Pod } from "./cluster_types.ts";

/** Underlay addresses: 198.18.0.0/15 is reserved for benchmarking (RFC 2544), never routed. */
export const UNDERLAY_PREFIX = "198.18.0";

export class Cluster {
  readonly nodes: Node[] = [];
  readonly pods: Pod[] = [];
  readonly underlay: string;
  #cniDir: string;
  #made: string[] = [];
  #exit = Promise.withResolvers<DaemonExit>();

  private constructor(readonly spec: ClusterSpec) {
    this.underlay = `${spec.prefix}-u`;
    this.#cniDir = `${spec.workdir}/cni-bin`;
  }

  #say(line: string) {
    this.spec.progress?.(line);
  }

  #netns(name: string): string {
    const path = createNetns(name);
    this.#made.push(name);
    inNetns(path, () => setLinkUp("lo"));
    return path;
  }

  /** Builds the underlay and the node namespaces (no daemons yet). Refuses taken names. */
  static build(spec: ClusterSpec): Cluster {
    checkPrefix(spec.prefix);
    if (spec.nodes < 1 || spec.nodes > 50) throw new Error("nodes must be between 1 and 50");
    const taken = namespacesWithPrefix(spec.prefix);
    if (taken.length > 0) {
      throw new Error(
        `namespaces ${
          taken.join(", ")
        } already exist: another cluster with prefix "${spec.prefix}" ` +
          `is running or was interrupted (remove it with 'weavets demo down')`,
      );
    }
    const c = new Cluster(spec);
    try {
      c.#buildNetwork();
    } catch (e) {
      c.#removeNamespaces();
      throw e;
    }
    return c;
  }

  #buildNetwork() {
    const { spec } = this;
    Deno.mkdirSync(this.#cniDir, { recursive: true });
    const plugin = `${this.#cniDir}/weavets`;
    try {
      Deno.removeSync(plugin);
    } catch {
      // not there yet
    }
    Deno.symlinkSync(spec.bin, plugin);

    const u = this.#netns(this.underlay);
    inNetns(u, () => {
      createBridge("br0");
      setLinkUp("br0");
    });
    for (let i = 1; i <= spec.nodes; i++) {
      const name = `${spec.prefix}-n${i}`;
      const path = this.#netns(name);
      const underlayIp = `${UNDERLAY_PREFIX}.${10 + i}`;
      inNetns(u, () => {
        createVeth(`n${i}`, "eth0", { peerNetns: path });
        setMaster(`n${i}`, "br0");
        setLinkUp(`n${i}`);
      });
      inNetns(path, () => {
        addAddress("eth0", `${underlayIp}/24`);
        setLinkUp("eth0");
      });
      const datadir = `${spec.workdir}/${name}`;
      Deno.mkdirSync(datadir, { recursive: true });
      this.nodes.push({
        index: i,
        name,
        netns: path,
        underlayIp,
        datadir,
        // Beside the datadir, not in it: tests make the datadir read-only or full.
        logFile: `${datadir}.log`,
      });
    }
    this.#say(`built ${spec.nodes} node namespaces on underlay ${UNDERLAY_PREFIX}.0/24`);
  }

  /** Peer names must differ per node (all namespaces share this machine's machine-id). */
  static peerName(index: number): string {
    return `0a:77:74:00:00:${index.toString(16).padStart(2, "0")}`;
  }

  /** Daemon flags for a node: every node is told about node 1 (and node 1 about node 2). */
  daemonArgs(node: Node): string[] {
    const { spec } = this;
    const args = [
      "daemon",
      "--name",
      Cluster.peerName(node.index),
      "--nickname",
      node.name,
      "--datadir",
      node.datadir,
      "--host",
      node.underlayIp,
      "--metrics-addr",
      "",
    ];
    if (spec.password) args.push("--password", spec.password);
    if (spec.noFastdp) args.push("--no-fastdp");
    args.push(...(spec.daemonArgs ?? []));
    const target = node.index === 1 ? this.nodes[1] : this.nodes[0];
    if (target && target !== node) args.push(target.underlayIp);
    return args;
  }

  /** Starts (or restarts) the daemon of a node; its log goes to node.logFile. */
  startDaemon(node: Node, extraArgs: string[] = []): void {
    if (node.daemon) throw new Error(`daemon of ${node.name} is already running`);
    // The daemon writes its log file itself (sh redirects, then execs it: same PID): no pipe
    // to drain, and lines are on disk as they are written.
    const child = spawnIn(node.netns, "/bin/sh", [
      "-c",
      'log=$1; shift; exec "$@" >>"$log" 2>&1',
      "sh",
      node.logFile,
      this.spec.bin,
      ...this.daemonArgs(node),
      ...extraArgs,
    ], {
      env: { WEAVETS_LOG_LEVEL: "debug", ...this.spec.daemonEnv?.(node) },
      stdout: "null",
      stderr: "null",
    });
    node.daemon = child;
    child.status.then(async (status) => {
      if (node.daemon !== child) return; // stopped on purpose
      node.daemon = undefined;
      const log = await Deno.readTextFile(node.logFile).catch(() => "");
      this.#exit.resolve({ node, code: status.code, signal: status.signal, error: lastError(log) });
    });
  }

  /**
   * Resolves when the first daemon exits that nobody stopped (stopDaemon, teardown), with its own
   * error: race a wait against it to stop at once instead of waiting out a timeout.
   */
  get daemonExited(): Promise<DaemonExit> {
    return this.#exit.promise;
  }

  /** Kills a node's daemon (SIGKILL by default) and waits for it to be gone. */
  async stopDaemon(node: Node, signal: Deno.Signal = "SIGKILL"): Promise<void> {
    const child = node.daemon;
    if (!child) return;
    node.daemon = undefined;
    try {
      child.kill(signal);
    } catch {
      // already exited
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // exited meanwhile
      }
    }, 5000);
    await child.status;
    clearTimeout(timer);
  }

  /** Runs `weavets ARGS` inside a node, like an operator on that node. */
  cli(node: Node, args: string[], timeoutMs = 15_000): Promise<ExecResult> {
    return execIn(node.netns, this.spec.bin, args, { timeoutMs });
  }

  /** Runs any program inside a namespace (pods' ping, iperf3 …). */
  run(netns: string, cmd: string, args: string[], timeoutMs = 30_000): Promise<ExecResult> {
    return execIn(netns, cmd, args, { timeoutMs });
  }

  /** `weavets status ipam --json` on a node: state, range, allocated count, peers' shares. */
  async ipamStatus(node: Node): Promise<{ state: string; allocated: number; range: string }> {
    const r = await this.cli(node, ["status", "ipam", "--json"], 10_000);
    if (r.code !== 0) throw new Error(`weavets status ipam on ${node.name}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout);
  }

  /** Every allocation the node's daemon holds (its API's `GET /ip`), fetched inside the node. */
  async allocations(node: Node): Promise<Allocation[]> {
    const r = await this.run(
      node.netns,
      "busybox",
      ["wget", "-q", "-O", "-", "http://127.0.0.1:6784/ip"],
      10_000,
    );
    if (r.code !== 0) throw new Error(`GET /ip on ${node.name} failed: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout);
  }

  /** Names of the host ends of pod veths (vethwepl*) in a node, from the kernel. */
  hostVeths(node: Node): string[] {
    return inNetns(node.netns, () => listLinks())
      .filter((l) => l.name.startsWith("vethwepl"))
      .map((l) => l.name);
  }

  /** IPv4 addresses (CIDR) on a pod's interface, from the kernel. */
  podAddresses(pod: Pod, ifname = "eth0"): string[] {
    return inNetns(pod.netns, () => listAddresses(ifname))
      .filter((a) => a.family === 4)
      .map((a) => a.cidr);
  }

  /** Sets a node's underlay link (its port on the underlay bridge) up or down: a partition. */
  setUnderlayLink(node: Node, up: boolean): void {
    inNetns(netnsPath(this.underlay), () => (up ? setLinkUp : setLinkDown)(`n${node.index}`));
  }

  /** One ICMP echo from a pod to an address, waiting up to `waitS` seconds for the reply. */
  ping(from: Pod, to: string, waitS = 2): Promise<PingResult> {
    return ping(from.netns, to, waitS * 1000);
  }

  /** Waits until `check` returns a truthy value, polling every `everyMs`; throws on timeout. */
  static async waitFor<T>(
    what: string,
    check: () => Promise<T | undefined | null | false>,
    timeoutMs: number,
    everyMs = 200,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const v = await check();
        if (v) return v;
      } catch (e) {
        last = e;
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
    throw new Error(
      `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`,
    );
  }

  /** Waits until the node's daemon answers GET /status with ready. */
  async waitReady(node: Node, timeoutMs = 20_000): Promise<void> {
    await Cluster.waitFor(
      `${node.name} to be ready`,
      async () => {
        const r = await this.cli(node, ["status"], 5000);
        return r.code === 0;
      },
      timeoutMs,
      250,
    );
  }

  #runtime(node: Node): CniRuntime {
    return new CniRuntime(
      this.spec.conflist,
      [this.#cniDir, "/usr/lib/cni", "/opt/cni/bin"],
      node.netns,
    );
  }

  /** Whether the node's network can take pods: CNI STATUS through the plugin chain. */
  async cniStatus(node: Node): Promise<void> {
    await this.#runtime(node).status();
  }

  /**
   * Creates a pod namespace on `node` and attaches it through the CNI plugin chain, with the
   * Kubernetes pod it stands for in CNI_ARGS as a kubelet's runtime passes it (default: name
   * `label`, no namespace).
   */
  async addPod(
    node: Node,
    label: string,
    k8s: { namespace?: string; name: string } = { name: label },
  ): Promise<Pod> {
    const name = `${node.name}-${label}`;
    const netns = this.#netns(name);
    const containerId = Array.from(
      crypto.getRandomValues(new Uint8Array(32)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    const pod: Pod = { name, node, netns, containerId };
    this.pods.push(pod);
    pod.result = await this.#runtime(node).add({
      containerId,
      netnsPath: netns,
      ifname: "eth0",
      args: [
        ...(k8s.namespace ? [`K8S_POD_NAMESPACE=${k8s.namespace}`] : []),
        `K8S_POD_NAME=${k8s.name}`,
      ].join(";"),
    });
    const ips = (pod.result as { ips?: Array<{ address: string }> })?.ips;
    pod.ip = ips?.[0]?.address.split("/")[0];
    return pod;
  }

  /** Detaches a pod through the CNI chain (DEL) and removes its namespace. */
  async deletePod(pod: Pod): Promise<void> {
    await this.#runtime(pod.node).del(
      { containerId: pod.containerId, netnsPath: pod.netns, ifname: "eth0" },
      pod.result,
    );
    this.#removeNamespace(pod.name);
    this.pods.splice(this.pods.indexOf(pod), 1);
  }

  #removeNamespace(name: string) {
    const i = this.#made.indexOf(name);
    if (i >= 0) this.#made.splice(i, 1);
    if (netnsExists(netnsPath(name))) deleteNetns(name);
  }

  #removeNamespaces() {
    for (const name of this.#made.slice().reverse()) {
      try {
        this.#removeNamespace(name);
      } catch {
        // keep removing the rest
      }
    }
  }

  /** Stops every daemon and removes every namespace and file this cluster made. */
  async teardown(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.stopDaemon(n, "SIGTERM")));
    // A daemon killed earlier (SIGKILL) left its CNI socket file behind, and DEL may have kept
    // releases for a daemon that never came back.
    for (const n of this.nodes) removeNodeState(n.netns);
    this.#removeNamespaces();
    await Deno.remove(this.spec.workdir, { recursive: true }).catch(() => {});
    this.#say("removed every namespace, daemon and file the cluster created");
  }
}
