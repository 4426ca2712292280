/**
 * What a node's daemon and plugin leave on the machine for a network namespace, removed when the
 * namespace goes (test namespaces, cluster teardown, `weavets demo down`): the CNI socket a
 * killed daemon left behind, any releases kept for it, and the attachments recorded for GC. All
 * are named by the namespace's inode, so this runs before the namespace is deleted.
 */
import { LEDGER_ROOT } from "./gc_ledger.ts";
import { removePendingDir } from "./pending.ts";
import { cniSocketPathFor } from "./socket.ts";

export function removeNodeState(netnsPath: string): void {
  removePendingDir(netnsPath);
  removePendingDir(netnsPath, LEDGER_ROOT);
  try {
    Deno.removeSync(cniSocketPathFor(Deno.statSync(netnsPath).ino!));
  } catch {
    // none: no daemon served there, or it removed its socket when it stopped
  }
}
