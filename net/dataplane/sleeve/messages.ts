/**
 * Messages between the main thread and the userspace-path Workers, and the shared statistics
 * layout. The Workers run tight synchronous loops and read these between batches.
 */
import type { PeerKeys } from "./keys.ts";

export interface SleeveWorkerInit {
  type: "init";
  role: "tx" | "rx";
  tapFd: number;
  udpFd: number;
  /** Maximum UDP payload per datagram on the underlay (path MTU − 28). */
  segSize: number;
  /** The socket has UDP_SEGMENT (else each datagram is sent on its own). */
  gso: boolean;
  /** Pod-network MTU: larger non-GSO DF packets get ICMP "fragmentation needed". */
  mtu: number;
  self: string;
  /** 16 hex digits, new each start: the header's bytes 8..15 when not encrypted. */
  epoch: string;
  /** Every message is sealed under the pair's session keys, and plaintext is refused. */
  encrypted: boolean;
  /** Learned MACs expire after this long unseen. */
  macTtlMs: number;
  /** This peer's fast-path probe MAC (probe.ts): probes to it are answered, not forwarded. */
  probeMac: string;
  stats: SharedArrayBuffer;
  /** tx ↔ rx: learned MAC locations flow from rx to tx. */
  port: MessagePort;
}

/** A reachable remote peer, as the control plane hands it to the Sleeve and on to the Workers. */
export interface SleevePeer {
  name: string;
  /** Its underlay address and sleeve port (used when it is a neighbour messages go to). */
  addr: string;
  port: number;
  /** This pair uses the userspace path now (else frames to its MACs are left to the fast path). */
  sleeve: boolean;
  /** MACs gossiped as living on this peer's bridge. */
  macs: string[];
  /** The neighbour on the mesh's route to it (MeshView.nextHop; itself when directly connected); null: none. */
  via: string | null;
  /** Its broadcasts go on from here to these neighbours (MeshView.broadcastChildren). */
  children: string[];
}

export interface SleevePeersUpdate {
  type: "peers";
  peers: SleevePeer[];
  /** The neighbours this peer's own broadcasts (and unknown destinations) go to. */
  broadcast: string[];
  /**
   * Encrypted: the keys of every peer with a session (keys.ts), whether or not it is in
   * `peers` now. A Worker keeps a key's counter or replay window exactly as long as the key is
   * listed here; a key id once dropped never comes back.
   */
  keys: PeerKeys[];
}

export interface SleeveStop {
  type: "stop";
}

export type SleeveControl = SleeveWorkerInit | SleevePeersUpdate | SleeveStop;

/** From a Worker to the main thread. */
export type SleeveReport =
  | { type: "ready"; role: "tx" | "rx" }
  | { type: "stopped"; role: "tx" | "rx" }
  | { type: "error"; role: "tx" | "rx"; message: string }
  /** A fast-path probe reply reached us: `from` is the answering peer's probe MAC. */
  | { type: "probe-reply"; from: string; seq: number };

/** rx → tx over the MessagePort: [macKey, peer name] pairs just learned. */
export type LearnedMacs = [number, string][];

/** Indices into the Float64Array over the stats SharedArrayBuffer. */
export const STAT = {
  txFrames: 0,
  txBytes: 1,
  txDatagrams: 2,
  txDropped: 3,
  txIcmpTooBig: 4,
  rxFrames: 5,
  rxBytes: 6,
  rxDatagrams: 7,
  rxDropped: 8,
  rxAuthFailed: 9,
  rxReplayed: 10,
  txFlooded: 11,
  /** Frames not sent: encrypted, and no session with the peer yet. */
  txNoKey: 12,
  /** Messages under a key id this peer does not hold (or whose grace ended). */
  rxNoKey: 13,
  /** Messages passed on to another peer (one per neighbour a copy went to). */
  relayed: 14,
  /** Frames or messages with nowhere to go: no route, a loop, no hops left, unknown origin. */
  noRoute: 15,
} as const;
export const STAT_COUNT = 16;

export type SleeveStats = { -readonly [K in keyof typeof STAT]: number };

export function readStats(sab: SharedArrayBuffer): SleeveStats {
  const f = new Float64Array(sab);
  const out = {} as SleeveStats;
  for (const [k, i] of Object.entries(STAT)) out[k as keyof typeof STAT] = f[i];
  return out;
}

export function hexToBytes(hex: string): Uint8Array {
  const b = new Uint8Array(hex.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return b;
}
