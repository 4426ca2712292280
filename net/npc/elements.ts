/**
 * From a compiled PolicyState to the elements of the nftables sets the rules of ruleset.ts look
 * up, pure. Elements are nft's own text ("10.32.0.5 . 0x00030000 . tcp . 80"), which is also
 * their identity: a change is the difference of two element sets (diffElements), applied as one
 * transaction of deletions and additions.
 *
 * A peer class travels in bits 16–31 of the packet mark while a new connection is checked (see
 * ruleset.ts): class c is the mark c << 16, and its bits are spread over the sets *_bit_N.
 */
import { formatIPv4 } from "../addr/mod.ts";
import type { PolicyState } from "./compile.ts";
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
    peer_pods: { type: ip, interval: false },
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

export const dirPrefix = (d: Direction) => (d === "ingress" ? "in" : "eg");

export function markText(cls: number): string {
  return `0x${((cls << CLASS_SHIFT) >>> 0).toString(16).padStart(8, "0")}`;
}

export function ipRangeText(r: IpRange): string {
  return r.lo === r.hi ? formatIPv4(r.lo) : `${formatIPv4(r.lo)}-${formatIPv4(r.hi)}`;
}

const portText = (lo: number, hi: number) => (lo === hi ? `${lo}` : `${lo}-${hi}`);
export const protoText = (p: Protocol) => p.toLowerCase();

export function renderElements(state: PolicyState): Elements {
  const out: Elements = new Map(Object.keys(SETS).map((n) => [n, new Set<string>()]));
  const add = (set: SetName, el: string) => out.get(set)!.add(el);

  for (const r of state.localRanges) add("local_ranges", ipRangeText(r));
  for (const [ip, cls] of state.peers.podClass) {
    add("peer_pods", formatIPv4(ip));
    for (const b of bits(cls)) add(`pod_bit_${b}`, formatIPv4(ip));
  }
  for (const s of state.peers.segments) {
    for (const b of bits(s.cls)) add(`block_bit_${b}`, ipRangeText(s));
  }
  for (const pod of state.local) {
    for (const ip of pod.ips) {
      const ipText = formatIPv4(ip);
      add("local_pods", ipText);
      for (const dir of ["ingress", "egress"] as const) {
        const rules = pod[dir];
        if (!rules || rules.openBy.length > 0) continue;
        const d = dirPrefix(dir);
        add(`${d}_policed`, ipText);
        // Port ranges per (peer, protocol), merged into disjoint intervals.
        const ranges = new Map<string, Array<{ lo: number; hi: number }>>();
        for (const e of rules.entries) {
          const peer = e.peer === "all" ? "all" : markText(e.peer);
          if (!e.range) {
            if (peer !== "all") add(`${d}_any`, `${ipText} . ${peer}`);
            continue;
          }
          const k = `${peer} ${protoText(e.range.protocol)}`;
          const list = ranges.get(k);
          if (list) list.push(e.range);
          else ranges.set(k, [e.range]);
        }
        for (const [k, list] of ranges) {
          const [peer, proto] = k.split(" ");
          const prefix = peer === "all" ? `${ipText} . ${proto}` : `${ipText} . ${peer} . ${proto}`;
          const kind = peer === "all" ? "all_" : "";
          for (const r of mergeRanges(list)) {
            add(
              `${d}_${kind}${r.lo === r.hi ? "port" : "range"}`,
              `${prefix} . ${portText(r.lo, r.hi)}`,
            );
          }
        }
      }
    }
  }
  return out;
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

export function diffElements(before: Elements, after: Elements): ElementDiff {
  const remove = new Map<SetName, string[]>();
  const add = new Map<SetName, string[]>();
  let count = 0;
  for (const name of Object.keys(SETS)) {
    const a = before.get(name) ?? new Set<string>();
    const b = after.get(name) ?? new Set<string>();
    const gone = [...a].filter((e) => !b.has(e));
    const fresh = [...b].filter((e) => !a.has(e));
    if (gone.length > 0) remove.set(name, gone);
    if (fresh.length > 0) add.set(name, fresh);
    count += gone.length + fresh.length;
  }
  return { remove, add, count };
}

export function elementCount(el: Elements): number {
  let n = 0;
  for (const s of el.values()) n += s.size;
  return n;
}
