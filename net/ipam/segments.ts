/**
 * Reading a ring's token list as address space: which segment each token owns, who owns an
 * address, how much each peer owns. Pure functions over the sorted token list (ring.ts keeps it),
 * split from ring.ts so that the signed-state rules there stay readable.
 */
import type { Entry, PeerName } from "./token.ts";

export interface Segment {
  start: number;
  /** Exclusive. */
  end: number;
  owner: PeerName;
}

/** Each token's segment: from its start up to the next token's (the last one up to `end`). */
export function segmentsOf(es: readonly Entry[], end: number): Segment[] {
  return es.map((e, i) => ({
    start: e.start,
    end: i + 1 < es.length ? es[i + 1].start : end,
    owner: e.owner,
  }));
}

/** The segments `peer` owns, adjacent ones joined. */
export function ownedSegments(segments: readonly Segment[], peer: PeerName): Segment[] {
  const out: Segment[] = [];
  for (const s of segments) {
    if (s.owner !== peer) continue;
    const last = out[out.length - 1];
    if (last && last.end === s.start) last.end = s.end;
    else out.push({ ...s });
  }
  return out;
}

/** Addresses owned per peer. */
export function sharesOf(segments: readonly Segment[]): Map<PeerName, number> {
  const m = new Map<PeerName, number>();
  for (const s of segments) m.set(s.owner, (m.get(s.owner) ?? 0) + s.end - s.start);
  return m;
}

/** The index of the last token starting at or before `ip` (tokens sorted by start), or -1. */
export function indexAtOrBefore(es: readonly Entry[], ip: number): number {
  let lo = 0, hi = es.length - 1, ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (es[mid].start <= ip) {
      ans = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return ans;
}
