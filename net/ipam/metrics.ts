/**
 * IPAM's Prometheus metrics, computed from the status view at scrape time.
 */
import { cidrSize } from "../addr/mod.ts";
import type { Registry } from "../api/metrics.ts";
import type { IpamService } from "./service.ts";
import { unreachablePercentage } from "./status_text.ts";

export function registerIpamMetrics(registry: Registry, svc: IpamService): void {
  const size = cidrSize(svc.range);
  registry.gaugeFn("weavets_ips", "Addresses allocated on this peer", () => [{
    value: svc.view()?.allocated ?? 0,
  }]);
  registry.gaugeFn("weavets_max_ips", "Addresses in the IP allocation range", () => [{
    value: size,
  }]);
  registry.gaugeFn(
    "weavets_ipam_unreachable_percentage",
    "Share of the IP range owned by peers this peer cannot reach (use rmpeer if they are dead)",
    () => [{ value: unreachablePercentage(svc.view(), size) }],
  );
  // Weave's weave_ipam_unreachable_count: peers that own space and cannot be reached.
  registry.gaugeFn(
    "weavets_ipam_unreachable_count",
    "Peers owning part of the IP range that this peer cannot reach",
    () => [{ value: svc.view()?.peers.filter((p) => !p.reachable && p.owned > 0).length ?? 0 }],
  );
  registry.gaugeFn(
    "weavets_ipam_pending_allocates",
    "Allocations waiting for consensus or for space",
    () => [{ value: svc.view()?.pendingAllocates ?? 0 }],
  );
  registry.gaugeFn(
    "weavets_ipam_pending_claims",
    "Claims waiting for consensus",
    () => [{ value: svc.view()?.pendingClaims ?? 0 }],
  );
  registry.counterFn(
    "weavets_ipam_refused_tokens_total",
    "Ring token states received by gossip and refused (bad-signature, not-owner, live-owner, " +
      "own-space, version-jump, ...): forgeries and peers without a say over the token",
    () =>
      Object.entries(svc.view()?.refusedTokens ?? {}).map(([reason, value]) => ({
        labels: { reason },
        value,
      })),
  );
  registry.gaugeFn(
    "weavets_ipam_conflicts",
    "Conflicts this peer reports and cannot settle alone (see 'weavets status ipam')",
    () => {
      const counts = new Map<string, number>();
      for (const c of svc.view()?.conflicts ?? []) {
        counts.set(c.kind, (counts.get(c.kind) ?? 0) + 1);
      }
      return [...counts].map(([kind, value]) => ({ labels: { kind }, value }));
    },
  );
}
