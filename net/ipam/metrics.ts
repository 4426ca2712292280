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
}
