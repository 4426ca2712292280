/** The shapes of a demo/test cluster (cluster.ts): its spec, nodes, pods, allocations, exits. */
import type { Conflist } from "./cni_runtime.ts";

export interface ClusterSpec {
  /** Prefix of every namespace name, e.g. "wtdemo" (1–12 chars, [a-z0-9-]). */
  prefix: string;
  nodes: number;
  /** The weavets executable. */
  bin: string;
  /** Holds each node's datadir and daemon log. */
  workdir: string;
  conflist: Conflist;
  password?: string;
  noFastdp?: boolean;
  /** Extra daemon flags for every node. */
  daemonArgs?: string[];
  /** Extra environment of a node's daemon (e.g. NODE_NAME with --kube). */
  daemonEnv?: (node: Node) => Record<string, string>;
  /** Progress lines. */
  progress?: (line: string) => void;
}

export interface Node {
  index: number;
  name: string;
  netns: string;
  underlayIp: string;
  datadir: string;
  logFile: string;
  daemon?: Deno.ChildProcess;
}

/** One IPAM allocation as the daemon lists it (GET /ip). */
export interface Allocation {
  id: string;
  ifname: string;
  ip: string;
}

export interface Pod {
  name: string;
  node: Node;
  netns: string;
  containerId: string;
  ip?: string;
  result?: unknown;
}

/** A daemon that exited without being stopped, and what it said last. */
export interface DaemonExit {
  node: Node;
  code: number;
  signal: Deno.Signal | null;
  /** The daemon's own reason, from its log (daemon_log.ts). */
  error: string;
}
