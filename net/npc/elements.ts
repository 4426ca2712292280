/**
 * The elements of the nftables sets the rules of ruleset.ts look up, pure. Elements are nft's own
 * text ("10.32.0.5 . 0x00030000 . tcp . 80"), which is also their identity: a change is a list of
 * deletions and additions per set, applied as one transaction.
 *
 * What the compile step hands over comes in pieces: a local pod's elements (its address in
 * local_pods, *_policed, and the entries of its rules), an address's class bits, the block
 * segments' bits, this node's ranges. A peer class travels in bits 16–31 of the packet mark while
 * a new connection is checked: class c is the mark c << 16, its bits spread over the sets
 * pod_bit_N (pod classes, per address) and block_bit_N (block classes, per segment).
 */
import { formatIPv4 } from "../addr/mod.ts";
import type { Segment } from "./classes.ts";
import type { LocalRules } from "./local_rules.ts";
import { mergeRanges } from "./ports.ts";
import type { Direction, IpRange, Protocol } from "./types.ts";

export const CLASS_BITS = 16;
export const CLASS_SHIFT = 16;

/** The sets of the ruleset, each with its nft type and whether it holds intervals. */
export const SETS = (() => {
  const ip = "ipv4_addr";
  const sets: Record<string, { type: string; interval: boolean }> = {
    local_pods: { type: ip, interval: false },
    local_ranges: { type: ip, interval: true },
  };
  for (let b = 0; b < CLASS_BITS; b++) {
    sets[`pod_bit_${b}`] = { type: ip, interval: false };
    sets[`block_bit_${b}`] = { type: ip, interval: true };
  }
  for (const d of ["in", "eg"]) {
    sets[`${d}_policed`] = { type: ip, interval: false };
    sets[`${d}_any`] = { type: `${ip} . mark`, interval: false };
    sets[`${d}_port`] = { type: `${ip} . mark . inet_proto . inet_service`, interval: false };
    sets[`${d}_range`] = { type: `${ip} . mark . inet_proto . inet_service`, interval: true };
    sets[`${d}_all_port`] = { type: `${ip} . inet_proto . inet_service`, interval: false };
    sets[`${d}_all_range`] = { type: `${ip} . inet_proto . inet_service`, interval: true };
  }
  return sets;
})();

export type SetName = string;
/** Set name → element texts. */
export type Elements = Map<SetName, Set<string>>;
/** Elements as a list of (set, element). */
export type ElementList = Array<[SetName, string]>;
/** The same, kept compact (what is stored per local pod). */
export type Fragment = Map<SetName, string[]>;

export function toFragment(list: ElementList): Fragment {
  const f: Fragment = new Map();
  for (const [set, el] of list) {
    const l = f.get(set);
    if (l) l.push(el);
    else f.set(set, [el]);
  }
  return f;
}

export function* fragmentPairs(f: Fragment | undefined): Iterable<[SetName, string]> {
  for (const [set, els] of f ?? []) for (const el of els) yield [set, el];
}

export const dirPrefix = (d: Direction) => (d === "ingress" ? "in" : "eg");

export function markText(cls: number): string {
  return `0x${((cls << CLASS_SHIFT) >>> 0).toString(16).padStart(8, "0")}`;
}

export function ipRangeText(r: IpRange): string {
  return r.lo === r.hi ? formatIPv4(r.lo) : `${formatIPv4(r.lo)}-${formatIPv4(r.hi)}`;
}

const portText = (lo: number, hi: number) => (lo === hi ? `${lo}` : `${lo}-${hi}`);
export const protoText = (p: Protocol) => p.toLowerCase();

export function emptyElements(): Elements {
  return new Map(Object.keys(SETS).map((n) => [n, new Set<string>()]));
}

/** A local pod's elements: its addresses, the directions policed, its rules' entries. */
export function localPodElements(pod: LocalRules): ElementList {
  const out: ElementList = [];
  for (const ip of pod.ips) {
    const ipText = formatIPv4(ip);
    out.push(["local_pods", ipText]);
    for (const dir of ["ingress", "egress"] as const) {
      const rules = pod[dir];
      if (!rules || rules.openBy.length > 0) continue;
      const d = dirPrefix(dir);
      out.push([`${d}_policed`, ipText]);
      // Port ranges per (peer, protocol), merged into disjoint intervals.
      const ranges = new Map<string, Array<{ lo: number; hi: number }>>();
      const any = new Set<string>();
      for (const e of rules.entries) {
        const peer = e.peer === "all" ? "all" : markText(e.peer);
        if (!e.range) {
          if (peer !== "all") any.add(`${ipText} . ${peer}`);
          continue;
        }
        const k = `${peer} ${protoText(e.range.protocol)}`;
        const list = ranges.get(k);
        if (list) list.push(e.range);
        else ranges.set(k, [e.range]);
      }
      for (const el of any) out.push([`${d}_any`, el]);
      for (const [k, list] of ranges) {
        const [peer, proto] = k.split(" ");
        const prefix = peer === "all" ? `${ipText} . ${proto}` : `${ipText} . ${peer} . ${proto}`;
        const kind = peer === "all" ? "all_" : "";
        for (const r of mergeRanges(list)) {
          out.push([
            `${d}_${kind}${r.lo === r.hi ? "port" : "range"}`,
            `${prefix} . ${portText(r.lo, r.hi)}`,
          ]);
        }
      }
    }
  }
  return out;
}

/** An address's pod class: one pod_bit_N per set bit (class 0: nothing). */
export function classElements(ip: number, cls: number): ElementList {
  if (cls === 0) return [];
  const text = formatIPv4(ip);
  return bits(cls).map((b): [string, string] => [`pod_bit_${b}`, text]);
}

export function segmentElements(segments: Segment[]): ElementList {
  return segments.flatMap((s) =>
    bits(s.cls).map((b): [string, string] => [`block_bit_${b}`, ipRangeText(s)])
  );
}

export function rangeElements(ranges: IpRange[]): ElementList {
  return ranges.map((r) => ["local_ranges", ipRangeText(r)]);
}

/** The set bits of a class number, as bit positions. */
function bits(cls: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < CLASS_BITS; b++) if (cls & (1 << b)) out.push(b);
  return out;
}

export interface ElementDiff {
  /** Set name → elements to delete / add. */
  remove: Map<SetName, string[]>;
  add: Map<SetName, string[]>;
  count: number;
}

/**
 * Collects what pieces of the state contributed before and after a change, then settles it
 * against the current elements: what a piece no longer contributes is deleted, what it newly
 * contributes is added (an element is contributed by one piece only), and the current elements
 * are updated. Costs the size of the change, not of the sets.
 */
export class ElementChanges {
  readonly #net = new Map<SetName, Map<string, number>>();

  replace(before: Iterable<[SetName, string]>, after: Iterable<[SetName, string]>): void {
    for (const [set, el] of before) this.#count(set, el, -1);
    for (const [set, el] of after) this.#count(set, el, 1);
  }

  #count(set: SetName, el: string, d: number): void {
    let m = this.#net.get(set);
    if (!m) this.#net.set(set, m = new Map());
    m.set(el, (m.get(el) ?? 0) + d);
  }

  settle(current: Elements): ElementDiff {
    const d: ElementDiff = { remove: new Map(), add: new Map(), count: 0 };
    for (const [set, m] of this.#net) {
      const now = current.get(set)!;
      const gone: string[] = [];
      const come: string[] = [];
      for (const [el, n] of m) {
        if (n < 0 && now.has(el)) {
          now.delete(el);
          gone.push(el);
        } else if (n > 0 && !now.has(el)) {
          now.add(el);
          come.push(el);
        }
      }
      if (gone.length > 0) d.remove.set(set, gone);
      if (come.length > 0) d.add.set(set, come);
      d.count += gone.length + come.length;
    }
    return d;
  }
}

export function elementCount(el: Elements): number {
  let n = 0;
  for (const s of el.values()) n += s.size;
  return n;
}
