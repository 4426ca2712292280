/**
 * Peer classes, pure. Two addresses of one class are treated alike by every rule in force on this
 * node, so the kernel needs one small number per address instead of one entry per pair of pods.
 * There are two kinds, numbered apart, and a connection is checked with both in turn:
 * - pod classes: which pod peers (selectors) a pod matches, and what the named ports of the
 *   egress rules mean on it — one per pod address, exact;
 * - block classes: which ipBlocks cover an address — one per segment of the address space cut
 *   by the blocks' edges, intervals.
 * Keeping blocks out of pod classes keeps pod classes few (a pod's class does not depend on
 * where its address falls), except for blocks that egress rules combine with named ports: those
 * need both at once, so they are part of the pod classes too.
 */
import type { ClusterModel } from "./cluster.ts";
import type { Interner } from "./interner.ts";
import { namedKey } from "./ports.ts";
import { isSelectAll, matches, requiredPairs, selectorKey } from "./selector.ts";
import type { IpRange, Peer, PodInfo, Selector } from "./types.ts";

export type PodsPeer = Extract<Peer, { kind: "pods" }>;
export type BlockPeer = Extract<Peer, { kind: "block" }>;

/** A distinct peer (equal peers of different rules are one matcher). */
export interface Matcher {
  id: number;
  peer: PodsPeer | BlockPeer;
}

export interface PeerClass {
  id: number;
  /** Matcher ids, ascending. */
  matchers: number[];
  /** For the named ports in use (`name/PROTOCOL`): the port numbers on this class's pods. */
  named: Map<string, number[]>;
}

export interface Segment extends IpRange {
  cls: number;
}

export interface Classification {
  matchers: Map<number, Matcher>;
  classes: Map<number, PeerClass>;
  /** Pod address → pod class (addresses of class 0 left out). */
  podClass: Map<number, number>;
  /** Block classes: disjoint, ascending, class ≠ 0. */
  segments: Segment[];
  /** Matcher id → the classes (of both kinds) that contain it. */
  classesOf: Map<number, number[]>;
}

/** Class 0 (no peer matched, no named port) is implicit; classes are numbered 1..max. */
export class TooManyClassesError extends Error {
  override name = "TooManyClassesError";
}

/** The canonical key of a peer: equal keys select the same addresses. */
export function matcherKey(peer: PodsPeer | BlockPeer): string {
  if (peer.kind === "block") {
    const ex = peer.except.map((e) => `${e.lo}-${e.hi}`).sort().join(",");
    return `b|${peer.cidr.lo}-${peer.cidr.hi}|${ex}`;
  }
  const ns = peer.namespaces === null ? `=${peer.policyNamespace}` : selectorKey(peer.namespaces);
  const pods = peer.pods === null ? "*" : selectorKey(peer.pods);
  return `p|${ns}|${pods}`;
}

export interface ClassifyInput {
  model: ClusterModel;
  /** Pod key → its addresses (ClusterModel.addressIndex). */
  addresses: Map<string, number[]>;
  /** The peers of the rules in force, deduplicated by matcherKey, with their ids. */
  matchers: Map<number, Matcher>;
  /** Named ports used by egress rules in force (`name/PROTOCOL`). */
  namedInUse: ReadonlySet<string>;
  /** Block matchers of egress rules with named ports: part of pod classes too. */
  namedBlocks: ReadonlySet<number>;
  classIds: Interner;
}

export function classify(input: ClassifyInput): Classification {
  const { model, addresses, matchers, namedInUse, namedBlocks, classIds } = input;
  const blocks = [...matchers.values()].filter((m) => m.peer.kind === "block");
  const segs = blockSegments(blocks);

  // Pod matcher ids per pod key.
  const podMatchers = new Map<string, number[]>();
  const nsCache = new Map<string, Set<string>>();
  for (const m of matchers.values()) {
    if (m.peer.kind !== "pods") continue;
    for (const key of members(model, m.peer, addresses, nsCache)) {
      const list = podMatchers.get(key);
      if (list) list.push(m.id);
      else podMatchers.set(key, [m.id]);
    }
  }

  classIds.begin();
  const classes = new Map<number, PeerClass>();
  const classFor = (kind: "p" | "b", matcherIds: number[], named: Map<string, number[]>) => {
    if (matcherIds.length === 0 && named.size === 0) return 0;
    const key = `${kind}|${matcherIds.join(",")}|${
      [...named].map(([k, ports]) => `${k}=${ports.join(",")}`).join(";")
    }`;
    const id = classIds.id(key);
    if (id === undefined) {
      throw new TooManyClassesError(
        `more than ${classIds.max} distinct peer classes: the policies in force distinguish more ` +
          "kinds of peers than this node can hold",
      );
    }
    if (!classes.has(id)) classes.set(id, { id, matchers: matcherIds, named });
    return id;
  };

  const segments = segs.map((s) => ({ lo: s.lo, hi: s.hi, cls: classFor("b", s.ids, new Map()) }));
  const podClass = new Map<number, number>();
  for (const [key, ips] of addresses) {
    const pod = model.pods.get(key);
    if (!pod || pod.hostNetwork) continue;
    const named = namedPortsOf(pod, namedInUse);
    const podIds = podMatchers.get(key) ?? [];
    for (const ip of ips) {
      const blockIds = namedBlocks.size === 0
        ? []
        : (findSegment(segs, ip)?.ids ?? []).filter((id) => namedBlocks.has(id));
      const ids = blockIds.length === 0
        ? podIds
        : [...new Set([...podIds, ...blockIds])].sort((a, b) => a - b);
      const cls = classFor("p", ids, named);
      if (cls !== 0) podClass.set(ip, cls);
    }
  }
  classIds.end();

  const classesOf = new Map<number, number[]>();
  for (const c of classes.values()) {
    for (const m of c.matchers) {
      const list = classesOf.get(m);
      if (list) list.push(c.id);
      else classesOf.set(m, [c.id]);
    }
  }
  return {
    matchers,
    classes,
    podClass,
    segments,
    classesOf,
  };
}

/** The pod class and block class of an address (what the kernel computes per packet). */
export function classesOfAddress(c: Classification, ip: number): { pod: number; block: number } {
  return { pod: c.podClass.get(ip) ?? 0, block: findSegment(c.segments, ip)?.cls ?? 0 };
}

function namedPortsOf(pod: PodInfo, inUse: ReadonlySet<string>): Map<string, number[]> {
  const out = new Map<string, number[]>();
  if (inUse.size === 0) return out;
  for (const p of pod.ports) {
    const k = namedKey(p.name, p.protocol);
    if (!inUse.has(k)) continue;
    const list = out.get(k);
    if (!list) out.set(k, [p.port]);
    else if (!list.includes(p.port)) list.push(p.port);
  }
  for (const list of out.values()) list.sort((a, b) => a - b);
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Keys of the pods (with an address) a pods-peer selects. */
function members(
  model: ClusterModel,
  peer: PodsPeer,
  addresses: Map<string, number[]>,
  nsCache: Map<string, Set<string>>,
): Iterable<string> {
  const namespaces = selectedNamespaces(model, peer, nsCache);
  const podSel: Selector | null = peer.pods;
  if (podSel?.invalid) return [];
  const pairs = podSel ? requiredPairs(podSel) : [];
  const out: string[] = [];
  const consider = (key: string) => {
    if (!addresses.has(key)) return;
    const pod = model.pods.get(key);
    if (!pod || pod.hostNetwork || !namespaces.has(pod.namespace)) return;
    if (podSel && !isSelectAll(podSel) && !matches(podSel, pod.labels)) return;
    out.push(key);
  };
  if (pairs.length > 0) {
    // The smallest index list of a label every selected pod must carry.
    let best: ReadonlySet<string> | undefined;
    for (const [k, v] of pairs) {
      const s = model.withLabel(k, v);
      if (!best || s.size < best.size) best = s;
    }
    for (const key of best!) consider(key);
  } else {
    for (const ns of namespaces) {
      for (const key of model.podsByNamespace.get(ns) ?? []) consider(key);
    }
  }
  return out;
}

function selectedNamespaces(
  model: ClusterModel,
  peer: PodsPeer,
  cache: Map<string, Set<string>>,
): Set<string> {
  if (peer.namespaces === null) return new Set([peer.policyNamespace]);
  const key = selectorKey(peer.namespaces);
  let set = cache.get(key);
  if (!set) {
    set = new Set();
    // Namespaces the pods name but the API has not reported count with no labels.
    const names = new Set([...model.namespaces.keys(), ...model.podsByNamespace.keys()]);
    for (const ns of names) {
      if (matches(peer.namespaces, model.namespaceLabels(ns))) set.add(ns);
    }
    cache.set(key, set);
  }
  return set;
}

interface RawSegment extends IpRange {
  /** Block matcher ids covering the segment, ascending. */
  ids: number[];
}

/** The address space cut by the blocks' edges: each piece with the blocks covering it. */
function blockSegments(blocks: Matcher[]): RawSegment[] {
  const events: Array<[number, number, number]> = []; // [position, +1/-1, matcher id]
  for (const m of blocks) {
    const p = m.peer as BlockPeer;
    for (const r of subtract(p.cidr, p.except)) {
      events.push([r.lo, 1, m.id], [r.hi + 1, -1, m.id]);
    }
  }
  events.sort((a, b) => a[0] - b[0]);
  const active = new Map<number, number>();
  const out: RawSegment[] = [];
  for (let i = 0; i < events.length;) {
    const pos = events[i][0];
    for (; i < events.length && events[i][0] === pos; i++) {
      const [, d, id] = events[i];
      const n = (active.get(id) ?? 0) + d;
      if (n === 0) active.delete(id);
      else active.set(id, n);
    }
    if (active.size > 0 && i < events.length) {
      out.push({
        lo: pos,
        hi: events[i][0] - 1,
        ids: [...active.keys()].sort((a, b) => a - b),
      });
    }
  }
  return out;
}

/** `r` minus the ranges in `holes`, as disjoint ranges. */
function subtract(r: IpRange, holes: IpRange[]): IpRange[] {
  const out: IpRange[] = [];
  let lo = r.lo;
  for (const h of [...holes].sort((a, b) => a.lo - b.lo)) {
    if (h.hi < lo || h.lo > r.hi) continue;
    if (h.lo > lo) out.push({ lo, hi: h.lo - 1 });
    lo = Math.max(lo, h.hi + 1);
  }
  if (lo <= r.hi) out.push({ lo, hi: r.hi });
  return out;
}

function findSegment<S extends IpRange>(segs: S[], ip: number): S | undefined {
  let a = 0;
  let b = segs.length - 1;
  while (a <= b) {
    const mid = (a + b) >> 1;
    const s = segs[mid];
    if (ip < s.lo) b = mid - 1;
    else if (ip > s.hi) a = mid + 1;
    else return s;
  }
  return undefined;
}
