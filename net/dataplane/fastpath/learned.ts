/**
 * Where the bridge has learned a remote pod, against where the plan sends its owner's traffic.
 * Pure: dataplane.ts lists the bridge's FDB, asks this, and deletes what it returns.
 *
 * Why this is needed on every plan and not only when a path moves: the two ends of a pair switch
 * paths at different times (each on its own probe clock: up to a probe interval apart, more on a
 * loaded node). Say this end moved peer P from the fast path to the userspace path and forgot P's
 * MACs on the VXLAN port; until P's end moves too, P still sends over VXLAN, and the first frame
 * from one of P's pods teaches the bridge that pod behind the VXLAN port again. From then on our
 * pods' frames to it go into the VXLAN device, whose FDB no longer has P (not a fast peer): they
 * are flooded to the fast peers only and never reach P, so the pod never answers and the wrong
 * entry is never corrected by learning — until its ARP entry fails over to a broadcast (seconds
 * to minutes). The same holds the other way round: a fast peer's MAC learned on the TAP is dropped
 * by the sending Worker (the fast path carries it). Seen as the data-plane test's "a cut fast path
 * falls back" failure on loaded CI machines (issue 15).
 */
import type { PeerName } from "../../mesh/gossip_channel.ts";
import type { PathName } from "../plan.ts";

/** The fields of a bridge FDB entry (net/linux listFdb) this needs. */
export interface BridgeEntry {
  dev: number;
  mac: string;
  /** The bridge the entry belongs to (NDA_MASTER). */
  bridge?: number;
  permanent: boolean;
  /** Neighbour state names (NOARP: a static entry someone added by hand; not learned). */
  state: readonly string[];
}

export interface BridgePorts {
  bridge: number;
  /** The VXLAN device's index (undefined: no device). */
  vxlan?: number;
  /** The TAP's index (undefined: not there). */
  tap?: number;
}

/**
 * The learned entries that contradict the plan: a pod MAC whose owner's pair uses the userspace
 * path, learned on the VXLAN port, and one whose owner's pair uses the fast path, learned on the
 * TAP. MACs of peers without a planned path (unknown, or gone and not kept), of this node, and
 * entries that were not learned (permanent, or static) are left alone.
 */
export function misplacedLearned(
  fdb: readonly BridgeEntry[],
  ports: BridgePorts,
  owners: ReadonlyMap<string, PeerName>,
  paths: readonly { peer: PeerName; path: PathName }[],
): { dev: number; mac: string }[] {
  const pathOf = new Map(paths.map((p) => [p.peer, p.path]));
  const out: { dev: number; mac: string }[] = [];
  for (const e of fdb) {
    if (e.bridge !== ports.bridge || e.permanent || e.state.includes("NOARP")) continue;
    const owner = owners.get(e.mac.toLowerCase());
    const path = owner === undefined ? undefined : pathOf.get(owner);
    if (path === undefined) continue;
    const wrongVxlan = ports.vxlan !== undefined && e.dev === ports.vxlan && path === "sleeve";
    const wrongTap = ports.tap !== undefined && e.dev === ports.tap && path === "fastdp";
    if (wrongVxlan || wrongTap) out.push({ dev: e.dev, mac: e.mac });
  }
  return out;
}
