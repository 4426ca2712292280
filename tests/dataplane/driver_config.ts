/**
 * What cluster.ts hands a node's test driver (as JSON in argv): the same for node_driver.ts (stdio
 * stand-in mesh) and daemon_driver.ts (the real daemon), with the data-plane options both derive.
 */
import type { DataplaneOptions } from "../../net/dataplane/dataplane.ts";

export interface DriverConfig {
  self: string;
  fastdp: boolean;
  password?: string;
  bridgeCidr?: string;
  podCidr?: string;
  underlayAddr: string;
  mtu?: number;
  adoptGraceMs?: number;
  /** Weave's --trusted-subnets (daemon_driver.ts: to the mesh and the data plane). */
  trustedSubnets?: string[];
  /** daemon_driver.ts: the other nodes' underlay addresses to dial. */
  peers?: string[];
  /**
   * Run the userspace path's Workers under fault_worker.ts: a file named "tx" or "rx" appearing in
   * this directory crashes that Worker (supervision_test.ts).
   */
  faultDir?: string;
}

/** The driver's config from its argv. */
export function driverConfig(): DriverConfig {
  return JSON.parse(Deno.args[0]);
}

/** The data-plane component's options for this node. */
export function dataplaneOptions(cfg: DriverConfig): DataplaneOptions {
  return {
    fastdp: cfg.fastdp,
    encrypted: Boolean(cfg.password),
    bridgeCidr: cfg.bridgeCidr,
    podCidr: cfg.podCidr,
    underlayAddr: cfg.underlayAddr,
    mtu: cfg.mtu,
    adoptGraceMs: cfg.adoptGraceMs,
    trustedSubnets: cfg.trustedSubnets,
    sleeveWorkerUrl: cfg.faultDir
      ? (role) => new URL(`./fault_${role}_worker.ts`, import.meta.url)
      : undefined,
  };
}
