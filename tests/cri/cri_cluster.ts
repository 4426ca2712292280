/**
 * Nodes as kubelet sees them: the e2e cluster (node namespaces on a private underlay, a real
 * `weavets daemon` each) plus, on every node, a private containerd whose CRI plugin runs the
 * shipped conflist with the product (WEAVETS_BIN, else the working tree's launcher) and the
 * reference plugins it chains (portmap, and loopback for the pod's `lo`) from a CNI bin dir the
 * test owns. Pods are CRI sandboxes; their netns is the one containerd mounted.
 */
import type { Cluster, Node, Pod } from "../../cli/demo/cluster.ts";
import { execIn } from "../../cli/demo/exec.ts";
import type { Conflist } from "../../cli/demo/cni_runtime.ts";
import { hostVethName } from "../../cni/names.ts";
import { weavetsBin } from "../harness/binary.ts";
import { type ClusterOptions, SHIPPED_CONFLIST, withCluster } from "../e2e/e2e.ts";
import { Containerd } from "./containerd.ts";
import type { SandboxSpec } from "./cri_client.ts";
import { buildPauseImage } from "./pause_image.ts";

/** The reference plugins the CRI path needs besides weavets (Debian containernetworking-plugins). */
export const REFERENCE_PLUGIN_DIR = "/usr/lib/cni";

/** What the CRI test needs on this machine; empty when everything is there. */
export function missingForCri(): string[] {
  const have = (cmd: string) =>
    new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" }).outputSync()
      .success;
  const missing = ["containerd", "ctr", "runc", "busybox", "nsenter", "unshare"]
    .filter((c) => !have(c));
  for (const p of ["portmap", "loopback", "bridge", "host-local"]) {
    try {
      Deno.statSync(`${REFERENCE_PLUGIN_DIR}/${p}`);
    } catch {
      missing.push(`${REFERENCE_PLUGIN_DIR}/${p}`);
    }
  }
  return missing;
}

export const CRI_PACKAGES = "containerd runc busybox-static containernetworking-plugins util-linux";

/** A pod as CRI created it. */
export interface CriPod extends Pod {
  /** The sandbox id (CNI_CONTAINERID for the plugin). */
  id: string;
  ip: string;
  /** The pause process. */
  pid: number;
}

export class CriNode {
  readonly binDir: string;
  readonly confDir: string;
  readonly containerd: Containerd;
  /** Sandboxes this test created here and has not removed. */
  readonly pods = new Map<string, CriPod>();
  /** Every sandbox id this test created here, removed or not. */
  readonly created = new Set<string>();
  #seq = 0;

  constructor(readonly cluster: Cluster, readonly node: Node, dir: string, conflist: Conflist) {
    this.binDir = `${dir}/bin`;
    this.confDir = `${dir}/net.d`;
    Deno.mkdirSync(this.binDir, { recursive: true });
    Deno.mkdirSync(this.confDir, { recursive: true });
    Deno.symlinkSync(weavetsBin(), `${this.binDir}/weavets`);
    for (const p of ["portmap", "loopback", "bridge", "host-local"]) {
      Deno.symlinkSync(`${REFERENCE_PLUGIN_DIR}/${p}`, `${this.binDir}/${p}`);
    }
    Deno.writeTextFileSync(
      `${this.confDir}/10-${conflist.name}.conflist`,
      JSON.stringify(conflist),
    );
    this.containerd = new Containerd({
      dir: `${dir}/containerd`,
      netns: node.netns,
      cniBinDir: this.binDir,
      cniConfDir: this.confDir,
    });
  }

  get cri() {
    return this.containerd.cri;
  }

  /** RunPodSandbox, then PodSandboxStatus (verbose) for its IP, netns path and pause pid. */
  async runPod(label: string, extra: Partial<SandboxSpec> = {}): Promise<CriPod> {
    const name = `${label}-${this.#seq++}`;
    const id = await this.cri.runPodSandbox({
      name,
      namespace: "default",
      uid: crypto.randomUUID(),
      ...extra,
    });
    const status = await this.cri.podSandboxStatus(id, true);
    const info = JSON.parse(status.info.info ?? "{}");
    const netns = (info.runtimeSpec?.linux?.namespaces ?? [])
      .find((n: { type: string }) => n.type === "network")?.path;
    if (!status.ready || !status.ip || !netns) {
      throw new Error(`sandbox ${id} is not ready with an address: ${JSON.stringify(status)}`);
    }
    const pod: CriPod = {
      name,
      node: this.node,
      netns,
      containerId: id,
      id,
      ip: status.ip,
      pid: info.pid,
    };
    this.created.add(id);
    this.pods.set(id, pod);
    return pod;
  }

  /** StopPodSandbox then RemovePodSandbox, as kubelet does when a pod goes. */
  async removePod(pod: CriPod): Promise<void> {
    await this.cri.stopPodSandbox(pod.id);
    await this.cri.removePodSandbox(pod.id);
    this.pods.delete(pod.id);
  }

  /**
   * What the node holds for pod networking, to compare with the pods that should exist: host
   * veths, weavets IPAM allocations, libcni's result cache entries (in the machine's
   * /var/lib/cni, shared by every runtime: only this node's sandboxes) and containerd's netns
   * mounts and their files.
   */
  async footprint(): Promise<{
    veths: string[];
    allocations: string[];
    cache: string[];
    netns: string[];
  }> {
    const allocations = (await this.cluster.allocations(this.node))
      .map((a) => a.id).filter((id) => this.created.has(id)).sort();
    const cache = listDir("/var/lib/cni/results")
      .filter((f) => [...this.created].some((id) => f.includes(id))).sort();
    return {
      veths: this.cluster.hostVeths(this.node).sort(),
      allocations,
      cache,
      netns: [...this.containerd.netnsMounts(), ...listDir(this.containerd.netnsDir)]
        .filter((v, i, a) => a.indexOf(v) === i).sort(),
    };
  }

  /** The footprint the live pods should have: one of each per pod, nothing else. */
  expectedFootprint(conflistName: string) {
    const live = [...this.pods.values()];
    return {
      veths: live.map((p) => hostVethName(p.id, "eth0")).sort(),
      allocations: live.map((p) => p.id).sort(),
      // containerd runs its loopback network (cni-loopback, plugin loopback) on `lo` first.
      cache: live.flatMap((p) => [`${conflistName}-${p.id}-eth0`, `cni-loopback-${p.id}-lo`])
        .sort(),
      netns: live.map((p) => p.netns.slice(p.netns.lastIndexOf("/") + 1)).sort(),
    };
  }
}

function listDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch {
    return [];
  }
}

/** Builds the cluster and a containerd per node (pause image imported), runs `fn`, removes all. */
export async function withCriCluster<T>(
  opts: ClusterOptions & { conflist?: Conflist },
  fn: (c: Cluster, nodes: CriNode[]) => Promise<T>,
): Promise<T> {
  const conflist = opts.conflist ?? SHIPPED_CONFLIST;
  return await withCluster({ ...opts, conflist }, async (c) => {
    // Short: containerd's sockets live here (a Unix socket path has at most 107 bytes).
    const dir = `/run/${c.spec.prefix}`;
    const nodes: CriNode[] = [];
    try {
      Deno.mkdirSync(dir, { recursive: true });
      const image = await buildPauseImage(dir);
      for (const n of c.nodes) {
        const cn = new CriNode(c, n, `${dir}/n${n.index}`, conflist);
        nodes.push(cn);
        await cn.containerd.start();
        await cn.containerd.importImage(image);
      }
      return await fn(c, nodes);
    } catch (e) {
      for (const cn of nodes) console.error(cn.containerd.logTail(15));
      throw e;
    } finally {
      for (const cn of nodes) await cn.containerd.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  });
}

/** Runs `cmd` in a namespace given by path (a pod's netns mount, a node). */
export function runIn(netns: string, cmd: string, args: string[], timeoutMs = 15_000) {
  return execIn(netns, cmd, args, { timeoutMs });
}

/** An HTTP GET from inside a namespace (Deno's fetch: busybox wget crashes on this host). */
export async function httpGetIn(netns: string, url: string): Promise<string> {
  const r = await execIn(netns, Deno.execPath(), [
    "eval",
    `const r = await fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(5000) }); ` +
    "console.log(await r.text());",
  ], { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`GET ${url} failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}
