/**
 * Where a pod's address comes from: a delegated IPAM plugin (config `ipam`) or the local weavets
 * daemon. Both are keyed by (container id, interface name).
 */
import type { NetConf } from "../config.ts";
import type { CniEnv } from "../env.ts";
import type { IPConfig, Result } from "../result.ts";

export interface IpamSource {
  /** Allocates (or claims the requested) addresses; `ips` carry no interface index yet. */
  add(): Promise<Result>;
  /** The bridge's address (the pods' gateway) when the bridge has none yet, given `alloc`. */
  bridgeAddress(alloc: Result): Promise<string>;
  /** Releases the allocation; succeeds when there is none. */
  del(): Promise<void>;
  /** Error unless the allocation still holds each of `ips`. */
  check(ips: IPConfig[]): Promise<void>;
  /** Releases every allocation of this network not in `valid`. */
  gc(valid: { containerID: string; ifname: string }[]): Promise<void>;
  /** Error 50/51 when addresses cannot be handed out (or only with limited connectivity). */
  status(): Promise<void>;
}

/** Everything a source needs: the parsed config and env, plus stdin as the runtime sent it. */
export interface IpamContext {
  conf: NetConf;
  env: CniEnv;
  rawConfig: string;
  /** The process environment (passed on to a delegated plugin unchanged). */
  processEnv: Record<string, string>;
  /**
   * Set when a long-lived process (the daemon) runs the command: work the runtime need not wait
   * for (the gratuitous ARP) runs there after the answer. Absent: the command does it inline.
   */
  defer?: (what: string, task: () => Promise<void>) => void;
}

export async function ipamSource(ctx: IpamContext): Promise<IpamSource> {
  if (ctx.conf.ipam) {
    const { DelegatedIpam } = await import("./delegate.ts");
    return new DelegatedIpam(ctx);
  }
  const { DaemonIpam } = await import("./daemon.ts");
  return new DaemonIpam(ctx);
}
