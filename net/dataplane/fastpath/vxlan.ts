/**
 * The fast path: one kernel VXLAN device on the bridge (learning off) whose FDB is programmed from
 * gossip — pod MAC → the peer's underlay address, plus all-zeros flood entries per peer — and
 * reconciled against what the kernel has, so a restarted daemon adopts the device and entries it
 * finds, fixes what differs and removes what is stale.
 */
import {
  appendFdb,
  createVxlan,
  deleteFdb,
  deleteLink,
  findLink,
  getLink,
  listFdb,
  setLinkUp,
  setMaster,
  setMtu,
} from "../../linux/mod.ts";
import { diffFdb, type FdbDiff, type FdbEntry } from "./fdb.ts";
import { misplacedLearned } from "./learned.ts";
import type { PeerName } from "../../mesh/gossip_channel.ts";
import type { PathName } from "../plan.ts";
import { WeavetsError } from "../../errors.ts";

export interface VxlanSetup {
  /** e.g. "vxlan-6784". */
  name: string;
  port: number;
  vni: number;
  bridge: string;
  mtu: number;
  /** Underlay source address. */
  local?: string;
}

export function vxlanName(port: number): string {
  return `vxlan-${port}`;
}

/** Creates or adopts the VXLAN device; returns what it changed. */
export function ensureVxlan(v: VxlanSetup): string[] {
  const changed: string[] = [];
  let link = findLink(v.name);
  if (link && link.kind !== "vxlan") {
    throw new WeavetsError("system", `"${v.name}" exists but is not a VXLAN device; remove it`);
  }
  const x = link?.vxlan;
  if (
    link && x &&
    (x.vni !== v.vni || x.port !== v.port || x.learning || (v.local && x.local !== v.local))
  ) {
    // VNI, port, learning and local address cannot be changed in place: recreate it.
    deleteLink(v.name);
    changed.push(
      `recreated ${v.name} (was vni ${x.vni} port ${x.port} local ${x.local ?? "-"}` +
        `${x.learning ? " learning" : ""})`,
    );
    link = undefined;
  }
  if (!link) {
    createVxlan(v.name, { vni: v.vni, port: v.port, learning: false, mtu: v.mtu, local: v.local });
    changed.push(`created ${v.name}`);
    link = getLink(v.name);
  } else if (link.mtu !== v.mtu) {
    setMtu(v.name, v.mtu);
    changed.push(`mtu ${link.mtu} -> ${v.mtu}`);
  }
  const bridge = getLink(v.bridge);
  if (link.master !== bridge.index) {
    setMaster(v.name, bridge.index);
    changed.push(`attached to ${v.bridge}`);
  }
  if (!link.up) {
    setLinkUp(v.name);
    changed.push("set up");
  }
  return changed;
}

/**
 * Encryption is all-or-nothing: with the fast path off (a password, or --no-fastdp), a VXLAN
 * device of ours left by an earlier run would still carry pod traffic in plaintext and accept
 * VXLAN on its UDP port. Deletes it (its FDB entries and its kernel socket go with it); returns
 * what it changed. A device of that name that is not VXLAN is not ours and stays.
 */
export function removeVxlan(name: string): string[] {
  const link = findLink(name);
  if (!link || link.kind !== "vxlan") return [];
  deleteLink(name);
  return [`removed ${name} (fast path off: no plaintext path may remain)`];
}

/** The device's own (NTF_SELF) entries with a remote: the ones we program. */
export function actualFdb(dev: string): FdbEntry[] {
  return listFdb(dev).filter((e) => e.self && e.dst !== undefined).map((e) => ({
    mac: e.mac,
    dst: e.dst!,
  }));
}

/**
 * Brings the device's FDB to `desired`: deletes stale/wrong entries first (those `mayDelete`
 * allows), then adds.
 */
export function reconcileFdb(
  dev: string,
  desired: FdbEntry[],
  mayDelete: (e: FdbEntry) => boolean = () => true,
): FdbDiff {
  const diff = diffFdb(desired, actualFdb(dev));
  diff.del = diff.del.filter(mayDelete);
  for (const e of diff.del) deleteFdb({ dev, mac: e.mac, dst: e.dst, self: true });
  for (const e of diff.add) appendFdb({ dev, mac: e.mac, dst: e.dst, self: true });
  return diff;
}

/**
 * Deletes the bridge's learned entries that contradict the plan (learned.ts: a peer's pod behind
 * the VXLAN port while its pair uses the userspace path, or behind the TAP while it uses the fast
 * path), so frames follow the planned path instead of a stale or re-learned entry. Returns the
 * MACs it deleted.
 */
export function forgetMisplaced(
  names: { bridge: string; vxlan: string; tap: string },
  owners: ReadonlyMap<string, PeerName>,
  paths: readonly { peer: PeerName; path: PathName }[],
): string[] {
  const br = findLink(names.bridge);
  if (!br) return [];
  const ports = {
    bridge: br.index,
    vxlan: findLink(names.vxlan)?.index,
    tap: findLink(names.tap)?.index,
  };
  const gone: string[] = [];
  for (const e of misplacedLearned(listFdb(), ports, owners, paths)) {
    try {
      deleteFdb({ dev: e.dev, mac: e.mac, master: true });
      gone.push(e.mac);
    } catch {
      // aged out or moved since the listing: nothing to forget
    }
  }
  return gone;
}
