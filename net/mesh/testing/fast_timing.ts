/**
 * Mesh timings for tests on loopback: a dead peer is noticed within a second, anti-entropy runs
 * every half second, redials back off from 100 ms. Production uses DEFAULT_MESH_TIMING.
 */
import type { MeshTiming } from "../router.ts";

export const FAST_MESH_TIMING: MeshTiming = {
  heartbeatMs: 200,
  deadMs: 1_000,
  // Generous: on a loaded 2-core machine a handshake can take a second or more.
  helloTimeoutMs: 3_000,
  handshakeTimeoutMs: 5_000,
  dialTimeoutMs: 1_000,
  antiEntropyMs: 500,
  forgetAfterMs: 60_000,
  backoff: { baseMs: 100, capMs: 400, jitter: 0.25 },
};
