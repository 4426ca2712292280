/**
 * DEL: removes the pod's interface, then releases its address. Idempotent: a missing namespace,
 * a missing interface and a second call all succeed. When the weavets daemon cannot take the
 * release now, it is kept on the node for the daemon (cni/pending.ts) and DEL still succeeds:
 * a runtime whose DEL fails retries it for as long as it fails, and the pod hangs in Terminating.
 */
import type { CommandContext } from "./context.ts";
import { deleteHostLink } from "./host.ts";
import { forgetAttachment, ledgerDir } from "./gc_ledger.ts";
import { ipamSource } from "./ipam/source.ts";
import { hostVethName } from "./names.ts";

export async function del(ctx: CommandContext): Promise<undefined> {
  // The host end lives in the node's namespace, so this works when the pod's namespace is gone;
  // deleting one end of a veth removes the pair.
  deleteHostLink(hostVethName(ctx.env.containerId, ctx.env.ifname));
  await (await ipamSource(ctx)).del();
  // Released (or kept for the daemon): nothing left for GC.
  const { containerId: containerID, ifname } = ctx.env;
  forgetAttachment(ledgerDir(ctx.conf.name), { containerID, ifname });
  return undefined;
}
