/**
 * GC (1.1.0): releases the allocations and removes the host veths of the attachments weavets
 * ADDed on this network (by its name) that are not in `cni.dev/valid-attachments` — and nothing
 * else on the bridge or in IPAM: cni/gc_ledger.ts says what else is there and why it must stay.
 */
import { findLink } from "../net/linux/link.ts";
import { CniError, ErrorCode } from "./errors.ts";
import { deleteHostLink } from "./host.ts";
import type { CommandContext } from "./context.ts";
import { forgetAttachment, ledgerDir, listAttachments, staleAttachments } from "./gc_ledger.ts";
import { ipamSource } from "./ipam/source.ts";
import { withNodeLock } from "./lock.ts";
import { hostVethName } from "./names.ts";

export async function gc(ctx: CommandContext): Promise<undefined> {
  const valid = ctx.conf.validAttachments;
  if (!valid) {
    throw new CniError(
      ErrorCode.InvalidConfig,
      'GC needs "cni.dev/valid-attachments" in the network config (an empty list releases ' +
        "everything weavets added on this network); the runtime must pass it",
    );
  }
  const dir = ledgerDir(ctx.conf.name);
  const { recorded, foreign } = listAttachments(dir);
  if (foreign.length > 0) {
    console.error(
      `weavets cni: GC: ignored ${foreign.length} file(s) in ${dir} that are not attachment ` +
        `records (e.g. "${foreign[0].slice(0, 80)}"); remove them`,
    );
  }
  const stale = staleAttachments(recorded, valid);
  await withNodeLock(() => {
    const bridge = findLink(ctx.conf.bridge);
    if (!bridge) return;
    for (const a of stale) {
      const name = hostVethName(a.containerID, a.ifname);
      if (findLink(name)?.master !== bridge.index) continue;
      console.error(`weavets cni: GC: removing ${name} of ${a.containerID} (${a.ifname})`);
      deleteHostLink(name);
    }
  });
  // Forgotten only once IPAM took the releases: a GC that fails here is retried whole.
  await (await ipamSource(ctx)).gc(valid, stale);
  for (const a of stale) forgetAttachment(dir, a);
  return undefined;
}
