/**
 * GC (1.1.0): releases every allocation of this network that is not in
 * `cni.dev/valid-attachments`, and removes stray `vethwepl*` interfaces on this network's bridge
 * that belong to none of them.
 */
import { findLink, listLinks } from "../net/linux/link.ts";
import { CniError, ErrorCode } from "./errors.ts";
import { deleteHostLink } from "./host.ts";
import type { CommandContext } from "./context.ts";
import { ipamSource } from "./ipam/source.ts";
import { withNodeLock } from "./lock.ts";
import { HOST_VETH_PREFIX, hostVethName } from "./names.ts";

export async function gc(ctx: CommandContext): Promise<undefined> {
  const valid = ctx.conf.validAttachments;
  if (!valid) {
    throw new CniError(
      ErrorCode.InvalidConfig,
      'GC needs "cni.dev/valid-attachments" in the network config (an empty list releases ' +
        "everything); the runtime must pass it",
    );
  }
  const keep = new Set(valid.map((a) => hostVethName(a.containerID, a.ifname)));
  await withNodeLock(() => {
    const bridge = findLink(ctx.conf.bridge);
    if (!bridge) return;
    for (const link of listLinks()) {
      if (
        link.name.startsWith(HOST_VETH_PREFIX) && link.master === bridge.index &&
        !keep.has(link.name)
      ) {
        console.error(`weavets cni: GC: removing stray interface ${link.name}`);
        deleteHostLink(link.name);
      }
    }
  });
  await (await ipamSource(ctx)).gc(valid);
  return undefined;
}
