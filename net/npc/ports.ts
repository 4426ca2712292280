/**
 * Ports of a rule, pure: resolving a port spec against the destination pod's named container
 * ports, and merging port ranges into the disjoint intervals nftables sets need.
 */
import type { NamedPort, PortSpec, Protocol } from "./types.ts";

/** An inclusive range of ports of one protocol. */
export interface PortRange {
  protocol: Protocol;
  lo: number;
  hi: number;
}

/** Port 0 included: "every port of a protocol" must leave none out. */
export const ALL_PORTS = { lo: 0, hi: 65535 } as const;

/**
 * The ranges a spec allows on a destination whose named ports are `named` (undefined: not a
 * known pod, so a named port matches nothing). A name matches the container ports of that name
 * and the spec's protocol. Protocols the kernel lacks (`supported`) allow nothing.
 */
export function resolvePort(
  spec: PortSpec,
  named: readonly NamedPort[] | undefined,
  supported: (p: Protocol) => boolean,
): PortRange[] {
  if (spec.kind === "invalid" || !supported(spec.protocol)) return [];
  switch (spec.kind) {
    case "all":
      return [{ protocol: spec.protocol, ...ALL_PORTS }];
    case "number":
      return [{ protocol: spec.protocol, lo: spec.port, hi: spec.endPort }];
    case "named":
      return (named ?? [])
        .filter((p) => p.name === spec.name && p.protocol === spec.protocol)
        .map((p) => ({ protocol: spec.protocol, lo: p.port, hi: p.port }));
  }
}

/** Sorted, disjoint, with touching ranges joined: [80-80, 81-90, 85-100] → [80-100]. */
export function mergeRanges(ranges: ReadonlyArray<{ lo: number; hi: number }>) {
  const sorted = [...ranges].sort((a, b) => a.lo - b.lo || a.hi - b.hi);
  const out: Array<{ lo: number; hi: number }> = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.lo <= last.hi + 1) last.hi = Math.max(last.hi, r.hi);
    else out.push({ lo: r.lo, hi: r.hi });
  }
  return out;
}

/** `name/PROTOCOL`, how named ports are keyed. */
export const namedKey = (name: string, protocol: Protocol) => `${name}/${protocol}`;
