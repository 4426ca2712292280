/**
 * What the router's status is projected from (status.ts), read from the live mesh in one place:
 * its identity and settings, the established connections, the dial targets and the topology.
 */
import type { ControlConnection } from "./connection.ts";
import type { TargetStatus } from "./connection_maker.ts";
import type { PeerName } from "./gossip_channel.ts";
import { PROTOCOL_MAX, PROTOCOL_MIN } from "./handshake.ts";
import type { MeshConfig } from "./mesh_config.ts";
import type { ControlAuth, StatusSnapshot } from "./status.ts";
import type { TopologyStore } from "./topology_store.ts";

/** The parts of the mesh the snapshot reads (the Mesh itself has them). */
export interface StatusSources {
  readonly self: PeerName;
  readonly uid: string;
  readonly controlAuth: ControlAuth;
  /** The port actually bound. */
  readonly port: number;
  readonly store: TopologyStore;
}

export function statusSnapshot(
  mesh: StatusSources,
  config: MeshConfig,
  connections: readonly ControlConnection[],
  targets: readonly TargetStatus[],
): StatusSnapshot {
  const store = mesh.store;
  return {
    self: { name: mesh.self, nickname: config.nickname, uid: mesh.uid },
    protocol: `weavets ${PROTOCOL_MIN}..${PROTOCOL_MAX}`,
    encryption: config.password !== null,
    controlAuth: mesh.controlAuth,
    peerDiscovery: config.discovery !== false,
    connLimit: config.connLimit,
    listen: `${config.host}:${mesh.port}`,
    established: connections.map((c) => ({
      outbound: c.outbound,
      address: `${c.remoteAddr.hostname}:${c.remoteAddr.port}`,
      name: c.remote.name,
      nickname: c.remote.nickname,
    })),
    targets,
    entries: store.entries(),
    reachable: (n) => store.reachable(n),
    // Read only by status(): a summary() leaves the routes alone.
    get routes() {
      return store.routes();
    },
  };
}
