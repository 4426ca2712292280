/**
 * What the node shows, for net/weave/detect.ts: its links, the sockets on given ports (from
 * /proc/net/{tcp,udp}{,6}, with their owners from /proc/PID/fd), Weave's processes, and with
 * --kube the weave-net pods on this node. Reads only; changes nothing. Every file read may be
 * missing or malformed (a process that ended meanwhile, a kernel without IPv6): that part is
 * skipped, never a crash.
 */
import { z } from "zod";
import type { KubeClient } from "../kube/client.ts";
import { listLinks } from "../linux/mod.ts";
import {
  type NodeSeen,
  type PodSeen,
  type Port,
  type ProcessSeen,
  type SocketSeen,
  WEAVE_PROCESSES,
} from "./detect.ts";

export interface ProcSocket {
  port: number;
  /** The kernel's TCP state number (10: LISTEN, 7: UDP bound/closed). */
  state: number;
  inode: number;
}

/**
 * Rows of /proc/net/tcp, udp, tcp6 or udp6 (pure): local port, state and inode. Lines that do
 * not parse are skipped.
 */
export function parseProcNet(text: string): ProcSocket[] {
  const out: ProcSocket[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const local = f[1].split(":");
    const port = parseInt(local[local.length - 1], 16);
    const state = parseInt(f[3], 16);
    const inode = Number(f[9]);
    if (!Number.isInteger(port) || !Number.isInteger(state) || !Number.isSafeInteger(inode)) {
      continue;
    }
    out.push({ port, state, inode });
  }
  return out;
}

const TCP_LISTEN = 10;

function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

function pids(proc: string): number[] {
  const out: number[] = [];
  try {
    for (const e of Deno.readDirSync(proc)) if (/^\d+$/.test(e.name)) out.push(Number(e.name));
  } catch {
    // no /proc: nothing to see
  }
  return out;
}

function comm(proc: string, pid: number): string {
  return readText(`${proc}/${pid}/comm`)?.trim() ?? "?";
}

/** The processes holding each of these socket inodes (one pass over /proc/*\/fd). */
function socketOwners(proc: string, inodes: Set<number>): Map<number, ProcessSeen[]> {
  const owners = new Map<number, ProcessSeen[]>();
  if (inodes.size === 0) return owners;
  for (const pid of pids(proc)) {
    let entries: Iterable<Deno.DirEntry>;
    try {
      entries = Deno.readDirSync(`${proc}/${pid}/fd`);
    } catch {
      continue; // ended, or not ours to read
    }
    try {
      for (const e of entries) {
        let target: string;
        try {
          target = Deno.readLinkSync(`${proc}/${pid}/fd/${e.name}`);
        } catch {
          continue;
        }
        const m = /^socket:\[(\d+)\]$/.exec(target);
        if (!m || !inodes.has(Number(m[1]))) continue;
        const list = owners.get(Number(m[1])) ?? [];
        if (!list.some((p) => p.pid === pid)) list.push({ pid, comm: comm(proc, pid) });
        owners.set(Number(m[1]), list);
      }
    } catch {
      // the process ended while being read
    }
  }
  return owners;
}

/** Sockets on the given ports in this network namespace, with their owners. */
export function socketsOn(ports: Port[], proc = "/proc"): SocketSeen[] {
  const found: Array<Omit<SocketSeen, "owners">> = [];
  for (const proto of ["tcp", "udp"] as const) {
    const wanted = new Set(ports.filter((p) => p.proto === proto).map((p) => p.port));
    if (wanted.size === 0) continue;
    for (const file of [proto, `${proto}6`]) {
      for (const s of parseProcNet(readText(`${proc}/net/${file}`) ?? "")) {
        if (!wanted.has(s.port)) continue;
        if (proto === "tcp" && s.state !== TCP_LISTEN) continue;
        found.push({ proto, port: s.port, inode: s.inode });
      }
    }
  }
  const owners = socketOwners(proc, new Set(found.map((s) => s.inode).filter((i) => i !== 0)));
  return found.map((s) => ({ ...s, owners: owners.get(s.inode) ?? [] }));
}

function netnsOf(proc: string, pid: number | "self"): string | null {
  try {
    return Deno.readLinkSync(`${proc}/${pid}/ns/net`);
  } catch {
    return null;
  }
}

/**
 * Running processes named as Weave's daemons, in this network namespace (weaver runs in the
 * host's; one in another namespace — a test's stand-in, a nested cluster — owns nothing here).
 * A process whose namespace cannot be read counts: better a refusal than a broken Weave.
 */
export function weaveProcesses(proc = "/proc"): ProcessSeen[] {
  const out: ProcessSeen[] = [];
  const own = netnsOf(proc, "self");
  for (const pid of pids(proc)) {
    const c = readText(`${proc}/${pid}/comm`)?.trim();
    if (!c || !WEAVE_PROCESSES.includes(c)) continue;
    const ns = netnsOf(proc, pid);
    if (own !== null && ns !== null && ns !== own) continue;
    out.push({ pid, comm: c });
  }
  return out;
}

const podSchema = z.object({
  metadata: z.object({
    name: z.string(),
    namespace: z.string().default("kube-system"),
    labels: z.record(z.string(), z.string()).optional(),
    deletionTimestamp: z.string().optional(),
  }),
  spec: z.object({ nodeName: z.string().optional() }).optional(),
  status: z.object({ phase: z.string().optional() }).optional(),
});

/** The weave-net DaemonSet's pods (label name=weave-net) on `node`. */
export async function weavePodsOn(client: KubeClient, node: string): Promise<PodSeen[]> {
  const r = await client.list("/api/v1/namespaces/kube-system/pods", podSchema);
  return r.items
    .filter((p) => p.metadata.labels?.name === "weave-net" && p.spec?.nodeName === node)
    .map((p) => ({
      namespace: p.metadata.namespace,
      name: p.metadata.name,
      phase: p.status?.phase ?? "Unknown",
      terminating: p.metadata.deletionTimestamp !== undefined,
    }));
}

/** Links, sockets and processes; `pods` is filled by the caller (null: not asked). */
export function observeNode(ports: Port[], proc?: string): NodeSeen {
  return {
    links: listLinks().map((l) => l.name),
    sockets: socketsOn(ports, proc),
    processes: weaveProcesses(proc),
    pods: null,
  };
}
