/**
 * The daemon's first step, before it touches any network state: test-bind the ports it needs and
 * look for a live Weave Net (net/weave/detect.ts). If Weave or anything else holds them, it
 * refuses with what it found and what to do; the node is left exactly as it was. Weave's
 * leftovers with no live owner are only named (the init container removes them).
 *
 * The test binds are released before the components start, so a process that grabs a port in
 * that window still makes the start fail later (as before); it no longer finds Weave running.
 */
import { parseListenAddress } from "../api/listen_address.ts";
import { WeavetsError } from "../errors.ts";
import { LinuxError } from "../linux/mod.ts";
import { udpSocket } from "../linux/udp.ts";
import { libc } from "../linux/libc.ts";
import type { Logger } from "../log.ts";
import { describeCause } from "../cause.ts";
import {
  detectWeave,
  type PodSeen,
  type Port,
  refusalMessage,
  type WeaveVerdict,
} from "./detect.ts";
import { observeNode } from "./observe.ts";

/** A live Weave Net (or anything) holds this node's ports: a conflict the operator resolves. */
export class WeaveAliveError extends WeavetsError {
  override name = "WeaveAliveError";
  constructor(readonly verdict: WeaveVerdict) {
    super("conflict", refusalMessage(verdict));
  }
}

export interface PortConfig {
  host: string;
  port: number;
  sleevePort?: number;
  fastdp: boolean;
  fastdpPort: number;
  httpAddr: string;
  metricsAddr: string | null;
}

/** The ports a daemon with this configuration binds (pure). */
export function daemonPorts(c: PortConfig): Port[] {
  const ports: Port[] = [
    { proto: "tcp", port: c.port, use: "control plane" },
    { proto: "udp", port: c.sleevePort ?? 6783, use: "userspace data path" },
  ];
  if (c.fastdp) {
    ports.push({ proto: "udp", port: c.fastdpPort, use: "VXLAN fast path", kernel: true });
  }
  for (const [addr, use] of [[c.httpAddr, "HTTP API"], [c.metricsAddr, "metrics"]] as const) {
    if (addr === null) continue;
    const a = parseListenAddress(addr);
    if (a.transport === "tcp") ports.push({ proto: "tcp", port: a.port, use, ip: a.hostname });
  }
  return ports;
}

/** Test-binds each userspace port (the VXLAN port is the kernel's); returns those in use. */
function bindProbe(host: string, ports: Port[]): Port[] {
  const inUse: Port[] = [];
  for (const p of ports) {
    if (p.kernel) continue; // the kernel's VXLAN socket may rightly hold it
    try {
      if (p.proto === "tcp") {
        Deno.listen({ hostname: p.ip ?? host, port: p.port }).close();
      } else {
        libc.close(udpSocket({ ip: host, port: p.port }));
      }
    } catch (e) {
      const busy = e instanceof Deno.errors.AddrInUse ||
        (e instanceof LinuxError && e.code === "EADDRINUSE");
      if (busy) inUse.push(p);
      // Anything else (an address not on this host, no permission) is for the component that
      // binds it to report, with its own context.
    }
  }
  return inUse;
}

export interface SafeStartOptions extends PortConfig {
  /** With --kube: weave-net pods on this node. */
  pods?: () => Promise<PodSeen[]>;
  log: Logger;
  proc?: string;
}

/** Throws WeaveAliveError when the node is not free for weavets. Changes nothing. */
export async function safeStart(o: SafeStartOptions): Promise<WeaveVerdict> {
  const ports = daemonPorts(o);
  const pods = o.pods
    ? async () => {
      try {
        return await o.pods!();
      } catch (e) {
        o.log.warn("cannot list weave-net pods to check for a live Weave Net; going by ports", {
          error: describeCause(e),
        });
        return null;
      }
    }
    : undefined;
  const seen = observeNode(ports, o.proc);
  seen.pods = pods ? await pods() : null;
  seen.inUse = bindProbe(o.host, ports);
  const verdict = detectWeave(seen, ports);
  if (verdict.alive) throw new WeaveAliveError(verdict);
  if (verdict.leftovers.length > 0) {
    o.log.warn(
      "Weave Net's devices are left on this node with no live owner: run `weavets reset --weave` " +
        "(the init container does) to remove them",
      { devices: verdict.leftovers },
    );
  }
  return verdict;
}
