/**
 * GC (1.1.0): releases the allocations and removes the host veths of the attachments weavets
 * ADDed on this network (by its name) that are not in `cni.dev/valid-attachments` — and nothing
 * else on the bridge or in IPAM (cni/gc_ledger.ts says what else is there and why it must stay),
 * but the daemon's claims of pods migrated from Weave Net whose veth is gone.
 */
import { findLink } from "../net/linux/link.ts";
import * as z from "zod/mini";
import { CniError, describeCause, ErrorCode } from "./errors.ts";
import { deleteHostLink } from "./host.ts";
import type { CommandContext } from "./context.ts";
import {
  forgetAttachment,
  ledgerDir,
  listAttachments,
  staleAttachments,
  vanishedMigrated,
} from "./gc_ledger.ts";
import { daemonAddress, releaseAllocation } from "./ipam/daemon.ts";
import { daemonCall } from "./ipam/daemon_api.ts";
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
  if (ctx.conf.ipam.kind === "daemon") await releaseVanishedMigrated(daemonAddress(ctx));
  return undefined;
}

const heldSchema = z.array(z.looseObject({ id: z.string(), ifname: z.string() }));

/** How long the daemon may take to answer (as cni/ipam/daemon.ts: it may wait for consensus). */
const TIMEOUT_MS = 35_000;

/** Releases the daemon's claims of migrated pods whose veth is gone (gc_ledger.ts says why). */
async function releaseVanishedMigrated(address: string): Promise<void> {
  const body = await daemonCall(address, {
    method: "GET",
    path: "/ip",
    what: "list the allocations",
  }, TIMEOUT_MS);
  let held;
  try {
    held = heldSchema.parse(JSON.parse(body));
  } catch (e) {
    throw new CniError(
      ErrorCode.IOFailure,
      "GC: the weavets daemon's allocation list (GET /ip) is not what this plugin reads: run " +
        "the plugin and the daemon of one weavets version",
      describeCause(e),
    );
  }
  for (const a of vanishedMigrated(held, (name) => findLink(name) !== undefined)) {
    console.error(`weavets cni: GC: releasing ${a.id} (${a.ifname}): its pod's veth is gone`);
    await releaseAllocation(address, a.id, a.ifname);
  }
}
