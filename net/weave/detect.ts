/**
 * Is Weave Net alive on this node? A pure decision over what the node shows (net/weave/observe.ts
 * gathers it): the daemon asks before it touches any network state, `weavets reset --weave` and
 * the init container ask before they remove Weave's leftovers. Alive means one of:
 * - a process holds one of the ports weavets needs (TCP/UDP 6783, UDP 6784, the API port): named
 *   when /proc shows it (the DaemonSet runs with hostPID);
 * - a `weaver` or `weave-npc` process runs (the owner of Weave's devices and iptables rules);
 * - with --kube, a weave-net pod is scheduled on this node and has not ended.
 * Weave's devices (`datapath`, `vethwe-bridge`, …) without a live owner are leftovers: reset
 * removes them; on their own they are no reason to refuse (a node where Weave ran until a delete).
 */

/** Weave's own devices (weave:net/bridge.go); `vethwe-tap` is weavets' and not among them. */
export const WEAVE_DEVICES: readonly string[] = [
  "datapath",
  "vethwe-bridge",
  "vethwe-datapath",
  "vethwe-pcap",
  "vethwedu",
];

/** Process names (/proc/PID/comm) of Weave Net's daemons. */
export const WEAVE_PROCESSES: readonly string[] = ["weaver", "weave-npc", "weave-kube"];

export interface Port {
  proto: "tcp" | "udp";
  port: number;
  /** What weavets uses it for, for the message. */
  use: string;
  /** The address weavets binds it on, when not the node's --host. */
  ip?: string;
  /**
   * A kernel VXLAN device may hold it (Weave's left over, or weavets' own across a restart): its
   * socket has an inode but no process, so only a socket a process holds counts.
   */
  kernel?: boolean;
}

export interface SocketSeen {
  proto: "tcp" | "udp";
  port: number;
  /** A kernel socket (a VXLAN device's) has one too, but no owner. */
  inode: number;
  /** The processes that hold it, when /proc shows them. */
  owners: ProcessSeen[];
}

export interface ProcessSeen {
  pid: number;
  comm: string;
}

export interface PodSeen {
  namespace: string;
  name: string;
  phase: string;
  terminating: boolean;
}

export interface NodeSeen {
  links: string[];
  /** Bound or listening sockets on the ports of interest. */
  sockets: SocketSeen[];
  /** Processes whose comm is in WEAVE_PROCESSES. */
  processes: ProcessSeen[];
  /** weave-net pods on this node; null when not asked (no --kube) or the API could not say. */
  pods: PodSeen[] | null;
  /** Ports a test bind found in use (EADDRINUSE), whoever holds them. */
  inUse?: Port[];
}

export interface WeaveVerdict {
  alive: boolean;
  /** Why it is alive: one line each, for the refusal. */
  evidence: string[];
  /** Weave's devices present with no live owner (what `reset --weave` removes). */
  leftovers: string[];
}

function who(s: SocketSeen): string {
  if (s.owners.length === 0) return `a process not visible from here (socket inode ${s.inode})`;
  return s.owners.map((o) => `${o.comm} (pid ${o.pid})`).join(", ");
}

/** The verdict (pure). `ports`: the ones weavets is about to bind. */
export function detectWeave(seen: NodeSeen, ports: Port[]): WeaveVerdict {
  const evidence: string[] = [];
  for (const p of ports) {
    for (const s of seen.sockets) {
      if (s.proto !== p.proto || s.port !== p.port) continue;
      // On the VXLAN port, a socket no process holds is a VXLAN device's — Weave's left over or
      // weavets' own from before a restart — which weavets adopts or replaces: not a live owner.
      if (p.kernel && s.owners.length === 0) continue;
      const weave = s.owners.some((o) => WEAVE_PROCESSES.includes(o.comm));
      evidence.push(
        `${p.proto.toUpperCase()} ${p.port} (${p.use}) is held by ${who(s)}` +
          (weave ? ": Weave Net is running" : ""),
      );
    }
  }
  for (const p of seen.inUse ?? []) {
    const named = seen.sockets.some((s) => s.proto === p.proto && s.port === p.port && s.inode);
    if (!named) {
      evidence.push(`${p.proto.toUpperCase()} ${p.port} (${p.use}) is in use (owner not found)`);
    }
  }
  for (const p of seen.processes) {
    evidence.push(`Weave Net's ${p.comm} is running (pid ${p.pid})`);
  }
  for (const p of seen.pods ?? []) {
    if (p.phase === "Succeeded" || p.phase === "Failed") continue;
    evidence.push(
      `pod ${p.namespace}/${p.name} is on this node (${p.phase}${
        p.terminating ? ", terminating" : ""
      })`,
    );
  }
  const devices = seen.links.filter((l) => WEAVE_DEVICES.includes(l));
  const alive = evidence.length > 0;
  return { alive, evidence, leftovers: alive ? [] : devices };
}

/** The refusal an operator reads: what was found, that nothing changed, what to do. */
export function refusalMessage(v: WeaveVerdict): string {
  return [
    "refusing to start: Weave Net (or another process) is still live on this node, and weavets " +
    "would break it. Nothing on this node was changed.",
    ...v.evidence.map((e) => `  - ${e}`),
    "To move this node: delete Weave Net first (kubectl -n kube-system delete daemonset " +
    "weave-net), wait until its pods are gone, then start weavets again (the init container " +
    "removes Weave's leftovers with `weavets reset --weave`). See docs/MIGRATING.md.",
  ].join("\n");
}
