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
 *
 * Classes are counted by their users (addresses, segments) and numbered from 1 while in use; the
 * changes of a compile (classes made and dropped, addresses whose class changed) are collected
 * for the compile step to update only what they touch.
 */
import { IdAllocator } from "./ids.ts";
import type { BlockPeer, Matcher } from "./membership.ts";
import type { IpRange } from "./types.ts";
import { WeavetsError } from "../errors.ts";

export interface PeerClass {
  id: number;
  /** Matcher ids, ascending. */
  matchers: number[];
  /** For the named ports in use (`name/PROTOCOL`): the port numbers on this class's pods. */
  named: ReadonlyMap<string, number[]>;
}

export interface Segment extends IpRange {
  cls: number;
}

/** Classes travel in 16 bits of the packet mark (elements.ts). */
export const MAX_CLASSES = 0xffff;

/**
 * Class numbers with fewer bits set first (1, 2, 4, … 0x8000, 3, 5, 6, …): each set bit is one
 * element per address in the kernel, so the classes in use cost fewer elements.
 */
const BY_BITS: number[] = Array.from({ length: MAX_CLASSES }, (_, i) => i + 1)
  .sort((a, b) => popcount(a) - popcount(b) || a - b);

function popcount(n: number): number {
  let c = 0;
  for (; n; n &= n - 1) c++;
  return c;
}

export class TooManyClassesError extends WeavetsError {
  override name = "TooManyClassesError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("too-large", message, opts);
  }
}

export interface ClassDelta {
  /** Matchers of the classes made or dropped: rules naming them must be looked at again. */
  matchers: Set<number>;
  /** A class with named ports was made or dropped. */
  named: boolean;
  /** Address → its pod class before and after (0: none). */
  addresses: Map<number, { before: number; after: number }>;
  /** The block segments before, when they changed. */
  segmentsBefore?: Segment[];
}

export class PeerClasses {
  readonly classes = new Map<number, PeerClass>();
  /** Matcher id → the classes (of both kinds) that contain it. */
  readonly classesOf = new Map<number, Set<number>>();
  /** Pod address → pod class (class 0 left out). */
  readonly podClass = new Map<number, number>();
  /** Block classes: disjoint, ascending, class ≠ 0. */
  segments: Segment[] = [];
  readonly #byKey = new Map<string, { id: number; users: number }>();
  readonly #keyById = new Map<number, string>();
  readonly #ipKey = new Map<number, string>();
  readonly #ids = new IdAllocator(MAX_CLASSES, (n) => BY_BITS[n]);
  #delta: ClassDelta = emptyDelta();

  /** Sets an address's pod class from its matchers and named ports (none: class 0). */
  setAddress(ip: number, matcherIds: number[], named: Map<string, number[]>): void {
    const key = matcherIds.length === 0 && named.size === 0 ? "" : classKey("p", matcherIds, named);
    const old = this.#ipKey.get(ip) ?? "";
    if (key === old) return;
    const before = this.podClass.get(ip) ?? 0;
    if (old) this.#release(old);
    let after = 0;
    if (key) {
      after = this.#acquire(key, matcherIds, named);
      this.#ipKey.set(ip, key);
      this.podClass.set(ip, after);
    } else {
      this.#ipKey.delete(ip);
      this.podClass.delete(ip);
    }
    const prev = this.#delta.addresses.get(ip);
    this.#delta.addresses.set(ip, { before: prev?.before ?? before, after });
  }

  removeAddress(ip: number): void {
    this.setAddress(ip, [], new Map());
  }

  /** Cuts the address space by the blocks' edges and numbers the pieces by the blocks over them. */
  setBlocks(blocks: Matcher[]): void {
    const next = blockSegments(blocks).map((s) => ({
      lo: s.lo,
      hi: s.hi,
      cls: this.#acquire(classKey("b", s.ids, new Map()), s.ids, new Map()),
    }));
    const before = this.segments;
    for (const s of before) this.#release(this.#keyById.get(s.cls)!);
    this.segments = next;
    this.#delta.segmentsBefore ??= before;
  }

  /** The block matchers covering an address (to fold blocks used with named ports in). */
  blocksAt(ip: number, blocks: Matcher[]): number[] {
    return blocks.filter((m) => {
      const p = m.peer as BlockPeer;
      return ip >= p.cidr.lo && ip <= p.cidr.hi && !p.except.some((e) => ip >= e.lo && ip <= e.hi);
    }).map((m) => m.id);
  }

  /** What changed since the last call; numbers given back become free from now on. */
  takeDelta(): ClassDelta {
    const d = this.#delta;
    this.#delta = emptyDelta();
    this.#ids.settle();
    return d;
  }

  #acquire(key: string, matchers: number[], named: Map<string, number[]>): number {
    const known = this.#byKey.get(key);
    if (known) {
      known.users++;
      return known.id;
    }
    let id: number;
    try {
      id = this.#ids.take();
    } catch {
      throw new TooManyClassesError(
        `more than ${MAX_CLASSES} distinct peer classes: the policies in force distinguish more ` +
          "kinds of peers than this node can hold",
      );
    }
    this.#byKey.set(key, { id, users: 1 });
    this.#keyById.set(id, key);
    this.classes.set(id, { id, matchers, named });
    for (const m of matchers) {
      const s = this.classesOf.get(m) ?? new Set<number>();
      s.add(id);
      this.classesOf.set(m, s);
      this.#delta.matchers.add(m);
    }
    if (named.size > 0) this.#delta.named = true;
    return id;
  }

  #release(key: string): void {
    const c = this.#byKey.get(key)!;
    if (--c.users > 0) return;
    this.#byKey.delete(key);
    this.#keyById.delete(c.id);
    const cls = this.classes.get(c.id)!;
    this.classes.delete(c.id);
    for (const m of cls.matchers) {
      const s = this.classesOf.get(m)!;
      s.delete(c.id);
      if (s.size === 0) this.classesOf.delete(m);
      this.#delta.matchers.add(m);
    }
    if (cls.named.size > 0) this.#delta.named = true;
    this.#ids.release(c.id);
  }
}

/** The pod class and block class of an address (what the kernel computes per packet). */
export function classesOfAddress(c: PeerClasses, ip: number): { pod: number; block: number } {
  return { pod: c.podClass.get(ip) ?? 0, block: findSegment(c.segments, ip)?.cls ?? 0 };
}

function emptyDelta(): ClassDelta {
  return { matchers: new Set(), named: false, addresses: new Map() };
}

function classKey(kind: "p" | "b", ids: number[], named: ReadonlyMap<string, number[]>): string {
  return `${kind}|${ids.join(",")}|${[...named].map(([k, p]) => `${k}=${p.join(",")}`).join(";")}`;
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
      out.push({ lo: pos, hi: events[i][0] - 1, ids: [...active.keys()].sort((a, b) => a - b) });
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
