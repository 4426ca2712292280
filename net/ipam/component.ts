/**
 * IPAM as a daemon component (net/daemon/component.ts): the service's lifecycle, its HTTP routes,
 * metrics, status section and report, wired together.
 */
import { formatCidr } from "../addr/mod.ts";
import type { Registry } from "../api/metrics.ts";
import type { DaemonComponent } from "../daemon/component.ts";
import type { MeshView } from "../mesh/gossip_channel.ts";
import { ipamRoutes } from "./http.ts";
import { registerIpamMetrics } from "./metrics.ts";
import { type IpamOptions, IpamService } from "./service.ts";
import { ipamSection } from "./status_text.ts";

export interface IpamComponent extends DaemonComponent {
  readonly service: IpamService;
}

/** The component for a service (made from `opts` when not given one). */
export function ipamComponent(svc: IpamService | IpamOptions): IpamComponent {
  const service = svc instanceof IpamService ? svc : new IpamService(svc);
  return {
    name: "ipam",
    service,
    routes: () => ipamRoutes(service),
    metrics: (registry: Registry) => registerIpamMetrics(registry, service),
    start: (mesh: MeshView) => service.start(mesh),
    stop: () => service.stop(),
    ready: () => service.ready(),
    status: () => ipamSection(service.view(), formatCidr(service.range)),
    report: () => ({ ...service.view(), entries: service.ringEntries() }),
  };
}

/**
 * The IPAM service joined to `mesh`, metrics registered (tests and benchmarks: one call instead
 * of the daemon's component life cycle).
 */
export function createIpam(
  opts: IpamOptions & { mesh: MeshView; registry: Registry },
): IpamService {
  const service = new IpamService(opts);
  registerIpamMetrics(opts.registry, service);
  service.start(opts.mesh);
  return service;
}
