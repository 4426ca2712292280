/**
 * What a node's daemon and plugin leave on the machine for a network namespace, removed when the
 * namespace goes (test namespaces, cluster teardown, `weavets demo down`): the CNI socket a
 * killed daemon left behind, and any releases kept for it. Both are named by the namespace's
 * inode, so this runs before the namespace is deleted.
 */
import { removePendingDir } from "./pending.ts";
import { cniSocketPathFor } from "./socket.ts";

export function removeNodeState(netnsPath: string): void {
  removePendingDir(netnsPath);
  try {
    Deno.removeSync(cniSocketPathFor(Deno.statSync(netnsPath).ino!));
  } catch {
    // none: no daemon served there, or it removed its socket when it stopped
  }
}
