/** The mesh's configuration, timings and limits, with their defaults. */
import type { Clock, Transport } from "./runtime.ts";
import type { Logger } from "../log.ts";
import type { Limits } from "./admission.ts";
import { type BackoffOptions, DEFAULT_BACKOFF } from "./backoff.ts";
import { FrameBudget, MAX_FRAME, MAX_UNKNOWN_FRAME } from "./codec.ts";
import { type ConnectionTiming, DEFAULT_CONNECTION_TIMING } from "./connection.ts";
import type { PeerName } from "./gossip_channel.ts";
import type { SigningKey } from "./signing.ts";
import type { ControlAuth } from "./status.ts";

/**
 * Neighbours that get a full state per anti-entropy round. Broadcast does the spreading;
 * anti-entropy only repairs what it missed, and a full topology of thousands of peers is megabytes.
 */
export const ANTI_ENTROPY_FANOUT = 2;
export const DEFAULT_LIMITS: Omit<Limits, "connLimit"> = {
  maxHandshakes: 32,
  maxHandshakesPerSource: 2,
};
/**
 * Bytes all connections may hold for incomplete frames: two full frames from known peers, and
 * 16 MiB for everyone else together (strangers cannot starve the peers we know).
 */
export const FRAME_BUDGET_BYTES = { known: 2 * MAX_FRAME, unknown: 16 * MAX_UNKNOWN_FRAME };

/** A mesh's two frame budgets (shared by all its connections). */
export function frameBudgets(): { known: FrameBudget; unknown: FrameBudget } {
  return {
    known: new FrameBudget(FRAME_BUDGET_BYTES.known),
    unknown: new FrameBudget(FRAME_BUDGET_BYTES.unknown),
  };
}

export interface MeshTiming extends ConnectionTiming {
  dialTimeoutMs: number;
  /** Period of anti-entropy (full state to a few random neighbours), jittered ±25 %. */
  antiEntropyMs: number;
  /** How long an unreachable peer stays in the topology. */
  forgetAfterMs: number;
  backoff: BackoffOptions;
}

export const DEFAULT_MESH_TIMING: MeshTiming = {
  ...DEFAULT_CONNECTION_TIMING,
  dialTimeoutMs: 5_000,
  antiEntropyMs: 30_000,
  forgetAfterMs: 60_000,
  backoff: DEFAULT_BACKOFF,
};

export interface MeshConfig {
  name: PeerName;
  nickname: string;
  /** Listen address and port for control connections. */
  host: string;
  port: number;
  /** The operator's password: authenticates peers and encrypts the data path. */
  password: string | null;
  /** Without a password: the cluster secret that authenticates peers (control plane only). */
  clusterSecret?: string | null;
  /** 0: no limit. */
  connLimit: number;
  /** Initial peers to dial: "host" or "host:port". */
  peers: string[];
  timing?: Partial<MeshTiming>;
  limits?: Partial<Omit<Limits, "connLimit">>;
  /** Port discovered addresses must use; default the listen port (any when listening on 0). */
  discoveryPort?: number | null;
  /** With --kube: discover only addresses of target hosts (Kubernetes nodes). */
  discoverOnlyTargetHosts?: boolean;
  /** False (Weave's --no-discovery): dial only the peers given, none learnt from the topology. */
  discovery?: boolean;
  log: Logger;
  /**
   * Weave's --trusted-subnets (CIDRs): peers connecting from inside them are told "trusted" in
   * the handshake; with both ends trusting, the data plane may skip encryption (trust.ts).
   */
  trustedSubnets?: readonly string[];
  /** This peer's signing key; a fresh one when absent (the daemon loads it from its data dir). */
  signingKey?: SigningKey;
  /** Default the system's clock, TCP and Math.random; tests run the mesh on virtual time. */
  runtime?: { clock?: Clock; transport?: Transport; random?: () => number };
}

/** How control connections are authenticated: the password, else the cluster secret, else not. */
export function controlAuthOf(c: Pick<MeshConfig, "password" | "clusterSecret">): ControlAuth {
  return c.password !== null
    ? "password"
    : (c.clusterSecret ?? null) !== null
    ? "cluster-secret"
    : "none";
}

/** The port discovered addresses must use: the given one, else ours (any when ours is 0). */
export function discoveryPortOf(c: Pick<MeshConfig, "discoveryPort" | "port">): number | null {
  return c.discoveryPort !== undefined ? c.discoveryPort : c.port === 0 ? null : c.port;
}
