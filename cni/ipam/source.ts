/**
 * Picks where a pod's address comes from (cni/ipam/types.ts): the plugin named by `ipam.type`,
 * or the local weavets daemon. Each source's module is imported only when used.
 */
import type { CommandContext } from "../context.ts";
import type { IpamSource } from "./types.ts";

export async function ipamSource(ctx: CommandContext): Promise<IpamSource> {
  if (ctx.conf.ipam.kind === "delegate") {
    const { DelegatedIpam } = await import("./delegate.ts");
    return new DelegatedIpam(ctx, ctx.conf.ipam.type);
  }
  const { DaemonIpam } = await import("./daemon.ts");
  return new DaemonIpam(ctx);
}
