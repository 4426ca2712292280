/**
 * What CNI GC may release: the attachments weavets itself ADDed, per network name. GC (1.1.0) is
 * a runtime's call for ONE network ("these are the live attachments of network N"), but the
 * daemon's IPAM and the `weave` bridge are shared by much that network N never ADDed:
 * - pods migrated from Weave Net (claimed at start from the bridge, net/weave/existing.ts: keys
 *   "weave:existing:<veth>" or their libcni cache key; their host veths are Weave's own
 *   `vethwepl<7 hex>`, never weavets' hashed names);
 * - pods of another network config on the same bridge or IPAM (a second conflist, Multus);
 * - addresses taken through the Weave-compatible HTTP API (scripts, `weave:expose`).
 * Releasing "all but the valid ones" would free their addresses (handed out again: duplicates)
 * and delete their veths (the pods lose their network). So ADD records the attachment here
 * before it allocates, DEL forgets it once released, and GC releases only recorded ones that are
 * not valid (libcni's own cache, which the runtime may not keep, is not relied on). A migrated
 * pod's claim without a CNI key is released by GC only once its veth is gone (vanishedMigrated).
 *
 * One empty file per attachment, `<container id>@<ifname>`, in a root-only directory per network
 * name, per node network namespace (as cni/pending.ts), on persistent storage: allocations
 * survive a reboot, so must what GC needs to release them. The record is not synced: one lost in
 * a crash only means GC cannot release that address (DEL still does) — never a wrong release.
 *
 * staleAttachments and parseAttachmentName are pure; the rest reads and writes the directory.
 */
import { ifNameProblem } from "../net/linux/names.ts";
import { pendingDir } from "./pending.ts";
import { privateDir } from "./private_dir.ts";

/**
 * The id prefix of a migrated pod's claim without a CNI key: net/weave/existing.ts's
 * EXISTING_ID_PREFIX (gc_ledger_test checks they agree; cni does not import net/weave).
 */
export const EXISTING_ID_PREFIX = "weave:existing:";

/** Beside the daemon's default data dir, as cni-pending; the plugin cannot know a --datadir. */
export const LEDGER_ROOT = "/var/lib/weavets/cni-attachments";

export interface Attachment {
  containerID: string;
  ifname: string;
}

/** As cni/env.ts validates CNI_CONTAINERID: never "@" or "/", so "@" separates. */
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** The directory of network `network` (a name config.ts validated: a safe path component). */
export function ledgerDir(network: string, root = LEDGER_ROOT): string {
  return `${pendingDir(root)}/${network}`;
}

export function attachmentName(a: Attachment): string {
  return `${a.containerID}@${a.ifname}`;
}

/** A file name read back (pure): the attachment, or null when it is not one of ours. */
export function parseAttachmentName(name: string): Attachment | null {
  const at = name.indexOf("@");
  if (at < 0) return null;
  const containerID = name.slice(0, at), ifname = name.slice(at + 1);
  if (!ID_RE.test(containerID) || ifNameProblem(ifname) !== undefined) return null;
  return { containerID, ifname };
}

/**
 * The recorded attachments GC releases (pure): those the runtime did not list as valid. Anything
 * not recorded is never stale, whatever the valid list says.
 */
export function staleAttachments(recorded: Attachment[], valid: Attachment[]): Attachment[] {
  const keep = new Set(valid.map(attachmentName));
  return recorded.filter((a) => !keep.has(attachmentName(a)));
}

/**
 * The claims of pods migrated from Weave Net ("weave:existing:<host veth>", made at the daemon's
 * start when no CNI key named the pod) whose veth is gone: the pod went, and with no CNI key
 * nothing else would ever release them (pure; `linkExists` reads the node). A claim whose veth
 * is there, or whose name is not an interface name, stays.
 */
export function vanishedMigrated(
  held: Array<{ id: string; ifname: string }>,
  linkExists: (name: string) => boolean,
): Array<{ id: string; ifname: string }> {
  return held.filter((a) => {
    if (!a.id.startsWith(EXISTING_ID_PREFIX)) return false;
    const veth = a.id.slice(EXISTING_ID_PREFIX.length);
    return ifNameProblem(veth) === undefined && !linkExists(veth);
  });
}

/** Records that ADD is about to allocate for `a` on `network`. Throws when it cannot. */
export function recordAttachment(dir: string, a: Attachment): void {
  privateDir(dir);
  Deno.writeFileSync(`${dir}/${attachmentName(a)}`, new Uint8Array(), { mode: 0o600 });
}

/** Forgets `a` (released); absent is fine. */
export function forgetAttachment(dir: string, a: Attachment): void {
  try {
    Deno.removeSync(`${dir}/${attachmentName(a)}`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** The recorded attachments, and the names of files in `dir` that are not records (ignored). */
export function listAttachments(dir: string): { recorded: Attachment[]; foreign: string[] } {
  const recorded: Attachment[] = [], foreign: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { recorded, foreign };
    throw e;
  }
  for (const e of entries) {
    const a = e.isFile ? parseAttachmentName(e.name) : null;
    if (a) recorded.push(a);
    else foreign.push(e.name);
  }
  return { recorded, foreign };
}
