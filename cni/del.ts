/**
 * DEL: removes the pod's interface, then releases its address. Idempotent: a missing namespace,
 * a missing interface and a second call all succeed. When the daemon cannot be reached the
 * interface is still removed, then error 11 tells the runtime to retry the release.
 */
import { deleteHostLink } from "./host.ts";
import { type IpamContext, ipamSource } from "./ipam/source.ts";
import { hostVethName } from "./names.ts";

export async function del(ctx: IpamContext): Promise<undefined> {
  // The host end lives in the node's namespace, so this works when the pod's namespace is gone;
  // deleting one end of a veth removes the pair.
  deleteHostLink(hostVethName(ctx.env.containerId, ctx.env.ifname));
  await (await ipamSource(ctx)).del();
  return undefined;
}
