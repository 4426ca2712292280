/**
 * What the userspace path shows of itself: its metrics and its lines in `weavets status`. The
 * data plane (dataplane.ts) passes its current Sleeve (none before start).
 */
import type { Registry } from "../../api/metrics.ts";
import { DROP_REASONS, type SleeveStats } from "./messages.ts";
import type { Sleeve } from "./sleeve.ts";

type Sample = { labels: Record<string, string>; value: number };

export function sleeveMetrics(registry: Registry, sleeve: () => Sleeve | undefined): void {
  const from = (pick: (s: Sleeve) => Sample[]) => () => {
    const s = sleeve();
    return s ? pick(s) : [];
  };
  registry.gaugeFn(
    "weavets_sleeve_bytes",
    "Bytes of frames carried by the userspace path since start, by direction.",
    from((s) => {
      const st = s.stats();
      return [
        { labels: { direction: "tx" }, value: st.txBytes },
        { labels: { direction: "rx" }, value: st.rxBytes },
      ];
    }),
  );
  registry.gaugeFn(
    "weavets_sleeve_dropped",
    "Frames, datagrams or messages the userspace path dropped since start, by reason.",
    from((s) => {
      const st = s.stats();
      return Object.entries(DROP_REASONS).map(([k, reason]) => ({
        labels: { reason },
        value: st[k as keyof SleeveStats],
      }));
    }),
  );
  registry.gaugeFn(
    "weavets_sleeve_relayed",
    "Userspace-path messages this peer passed on for other peers (hop by hop) since start.",
    from((s) => [{ labels: {}, value: s.stats().relayed }]),
  );
  registry.counterFn(
    "weavets_sleeve_worker_restarts_total",
    "Userspace-path Workers started again after one died, by role.",
    from((s) => Object.entries(s.restarts()).map(([role, value]) => ({ labels: { role }, value }))),
  );
}

/** `weavets status` lines: the Workers' state and what was dropped, by reason. */
export function sleeveStatusFields(sleeve: Sleeve | undefined): Array<[string, string]> {
  if (!sleeve) return [];
  const r = sleeve.restarts();
  const restarts = r.tx + r.rx;
  const workers = `${sleeve.health() ?? "running"}${
    restarts ? ` (restarts: tx ${r.tx}, rx ${r.rx})` : ""
  }`;
  const st = sleeve.stats();
  const dropped = Object.entries(DROP_REASONS)
    .map(([k, reason]) => [reason, st[k as keyof SleeveStats]] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${n} ${reason}`);
  return [
    ["Sleeve workers", workers],
    ["Sleeve dropped", dropped.length ? dropped.join(", ") : "none"],
  ];
}
