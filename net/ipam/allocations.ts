/**
 * This peer's allocations and the search for free addresses in the space it owns. Pure: the
 * owned segments come in as arguments.
 */
import type { Cidr } from "../addr/mod.ts";
import { broadcastOf, networkOf } from "../addr/mod.ts";
import { type Allocation, type AllocKey, keyString } from "./types.ts";

/** A run of addresses [start, end). */
export interface Span {
  start: number;
  end: number;
}

/** The network and broadcast addresses of a CIDR, which are never handed out (not for /31, /32). */
export function reservedOf(c: Cidr): Set<number> {
  return c.prefix >= 31 ? new Set() : new Set([networkOf(c), broadcastOf(c)]);
}

export class AllocationTable {
  readonly #byKey = new Map<string, Allocation>();
  readonly #byIp = new Map<number, string>();

  get size(): number {
    return this.#byKey.size;
  }

  all(): Allocation[] {
    return [...this.#byKey.values()];
  }

  lookup(key: AllocKey): Allocation | undefined {
    return this.#byKey.get(keyString(key));
  }

  /** The allocation holding `ip`, if any. */
  holder(ip: number): Allocation | undefined {
    const k = this.#byIp.get(ip);
    return k === undefined ? undefined : this.#byKey.get(k);
  }

  record(a: Allocation): void {
    this.#byKey.set(keyString(a), a);
    this.#byIp.set(a.ip, keyString(a));
  }

  forget(a: AllocKey): Allocation | undefined {
    const found = this.#byKey.get(keyString(a));
    if (!found) return undefined;
    this.#byKey.delete(keyString(found));
    this.#byIp.delete(found.ip);
    return found;
  }

  /**
   * The first free address of `owned` within [lo, hi), searching from `cursor` to the end and
   * then from the start (so released addresses are reused last).
   */
  findFree(owned: Span[], lo: number, hi: number, reserved: Set<number>, cursor: number) {
    const segs = clip(owned, lo, hi);
    for (const [from, to] of [[cursor, Infinity], [0, cursor]]) {
      for (const s of segs) {
        const a = Math.max(s.start, from), b = Math.min(s.end, to);
        for (let ip = a; ip < b; ip++) {
          if (!this.#byIp.has(ip) && !reserved.has(ip)) return ip;
        }
      }
    }
    return null;
  }

  /** Unallocated runs of the `owned` addresses within [lo, hi). */
  freeRanges(owned: Span[], lo: number, hi: number, reserved: Set<number>): Span[] {
    const used = [...this.#byIp.keys(), ...reserved].sort((a, b) => a - b);
    const out: Span[] = [];
    for (const s of clip(owned, lo, hi)) {
      let start = s.start;
      for (let i = lowerBound(used, start); i < used.length && used[i] < s.end; i++) {
        if (used[i] > start) out.push({ start, end: used[i] });
        start = used[i] + 1;
      }
      if (s.end > start) out.push({ start, end: s.end });
    }
    return out;
  }
}

/**
 * What a donor gives from its free runs: the largest one, capped at half of all its free
 * addresses (at least one), taken from that run's end, as Weave's `space.Donate` does.
 */
export function donationFrom(free: Span[]): Span | null {
  const total = free.reduce((n, g) => n + g.end - g.start, 0);
  if (total === 0) return null;
  const largest = free.reduce((x, g) => (g.end - g.start > x.end - x.start ? g : x));
  const n = Math.min(largest.end - largest.start, Math.max(1, Math.floor(total / 2)));
  return { start: largest.end - n, end: largest.end };
}

function clip(spans: Span[], lo: number, hi: number): Span[] {
  return spans
    .map((s) => ({ start: Math.max(s.start, lo), end: Math.min(s.end, hi) }))
    .filter((s) => s.end > s.start);
}

function lowerBound(a: number[], x: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
