/**
 * The daemon's extension point. Each feature (IPAM, data plane, Kubernetes integration) is a
 * component: the daemon starts them in order once the mesh exists, serves their routes, asks them
 * for readiness, status and report sections, and stops them in reverse order.
 */
import type { Registry } from "../api/metrics.ts";
import type { ApiRoute } from "../api/route.ts";
import type { MeshView, PeerName } from "../mesh/gossip_channel.ts";
import type { StatusSection } from "../mesh/status_text.ts";

export type { StatusSection };

export interface DaemonComponent {
  /** Short and unique: the key of its part of /report, e.g. "ipam". */
  readonly name: string;
  /** HTTP endpoints, served on --http-addr (e.g. the IPAM API, GET /status/ipam). */
  routes?(): ApiRoute[];
  /** Registers Prometheus metrics; called once before `start`. */
  metrics?(registry: Registry): void;
  /**
   * Called after the mesh is created and before it connects to anyone, so channels registered
   * here take part from the first connection. A throw aborts the daemon's start.
   */
  start?(mesh: MeshView): void | Promise<void>;
  stop?(): void | Promise<void>;
  /** Null when ready; otherwise why not (GET /status answers 503 with it). */
  ready?(): string | null;
  /** A section of `weavets status` (e.g. Service: ipam). */
  status?(): StatusSection;
  /** Its part of GET /report (JSON). */
  report?(): unknown;
  /** The data path to a peer shown in `weavets status connections` (e.g. "fastdp"). */
  dataPath?(peer: PeerName): string | undefined;
  /** Why that data path (shown with it). */
  dataPathReason?(peer: PeerName): string | undefined;
}
