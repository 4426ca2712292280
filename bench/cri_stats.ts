/**
 * The statistics of the CRI benchmark (bench/cri_latency.ts, judged together by bench/cri_combine.ts),
 * pure: percentiles, per-round ratio spreads, a goal's verdict, the daemon's per-phase medians.
 */

export const WEAVETS = "weavets";
export const REF = "bridge+host-local";

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

/** A goal's verdict from the spread of per-round ratios (pure). */
export function verdict(spread: { lo: number; hi: number }, goal: number): string {
  if (spread.hi <= goal) return "met";
  if (spread.lo > goal) return "not met";
  return "not distinguishable at this noise";
}

/** One sample set: per round, the latencies at concurrency 1 and 20. */
export type Samples = { c1: number[][]; c20: number[][] };

/** One ADD the daemon served: its time, and per phase (cni/phases.ts). */
export type Served = { ms: number; phases: Record<string, number>; cpu: Record<string, number> };

/** "read 0.3, ipam 12, …": each phase's median over `adds` (pure). */
export function phaseMedians(adds: Served[], of: "phases" | "cpu" = "phases"): string {
  const names = [...new Set(adds.flatMap((a) => Object.keys(a[of])))];
  return names.map((n) => {
    const xs = sorted(adds.map((a) => a[of][n] ?? 0));
    return `${n} ${percentile(xs, 50).toFixed(1)}`;
  }).join(", ");
}

export interface Row {
  p50: number;
  p99: number;
}

export function pooled(s: Samples): { c1: Row; c20: Row } {
  const row = (rounds: number[][]): Row => {
    const all = sorted(rounds.flat());
    return { p50: percentile(all, 50), p99: percentile(all, 99) };
  };
  return { c1: row(s.c1), c20: row(s.c20) };
}

/** Per-round ratios of a statistic, weavets over reference: their min and max. */
export function spread(
  w: number[][],
  r: number[][],
  stat: (xs: number[]) => number,
): { lo: number; hi: number } {
  const ratios = w.map((x, i) => stat(sorted(x)) / stat(sorted(r[i])));
  return { lo: Math.min(...ratios), hi: Math.max(...ratios) };
}
