/**
 * Messages between the main thread and the userspace-path Workers, and the shared statistics
 * layout. The Workers run tight synchronous loops and read these between batches.
 */
import type { PeerKeys } from "./keys.ts";

export type WorkerRole = "tx" | "rx";

export interface SleeveWorkerInit {
  type: "init";
  role: WorkerRole;
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
  /** What outlives a Worker (shared.ts): message counter, replay-window tops, liveness. */
  shared: SharedArrayBuffer;
  /** This Worker's generation (shared.ts): it stops when the supervisor moves past it. */
  generation: number;
  /** It replaces a Worker that died: the keys of its first peer update were in use before. */
  restart: boolean;
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

/** The other Worker was restarted: the tx ↔ rx channel goes through this port now. */
export interface SleevePort {
  type: "port";
  port: MessagePort;
}

export type SleeveControl = SleeveWorkerInit | SleevePeersUpdate | SleeveStop | SleevePort;

/** From a Worker to the main thread. */
export type SleeveReport =
  | { type: "ready"; role: WorkerRole }
  | { type: "stopped"; role: WorkerRole }
  /** Its loop failed: the Worker does nothing more (the supervisor replaces it). */
  | { type: "error"; role: WorkerRole; message: string }
  /** A fast-path probe reply reached us: `from` is the answering peer's probe MAC. */
  | { type: "probe-reply"; from: string; seq: number }
  /** A fast-path probe request reached us (and was answered): `from` is the asker's probe MAC. */
  | { type: "probe-request"; from: string }
  /**
   * What was refused from `source` since the last report of it, by reason (STAT names; already
   * counted): at most one report per source and interval (refusals.ts).
   */
  | { type: "refused"; role: WorkerRole; source: string; reasons: Record<string, number> };

/** rx → tx over the MessagePort: [macKey, peer name] pairs just learned. */
export type LearnedMacs = [number, string][];

/** Indices into the Float64Array over the stats SharedArrayBuffer. */
export const STAT = {
  txFrames: 0,
  txBytes: 1,
  txDatagrams: 2,
  /** Messages the kernel refused to send (e.g. EMSGSIZE under a smaller path MTU). */
  txDropped: 3,
  txIcmpTooBig: 4,
  rxFrames: 5,
  rxBytes: 6,
  rxDatagrams: 7,
  /** Fragments whose header does not parse (magic, version, flags, count, index, length). */
  rxMalformed: 8,
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
  /** Fragments from a sender name that is no peer with an address. */
  rxUnknownSender: 16,
  /** Unencrypted fragments from another address than the sender's record gives. */
  rxWrongSource: 17,
  /** Plaintext while this peer encrypts, or sealed messages while it does not. */
  rxWrongMode: 18,
  /** Fragments for no open message (their fragment 0 did not come first, or was refused). */
  rxOrphan: 19,
  /** Fragments that do not fit the shape their fragment 0 committed to. */
  rxBadShape: 20,
  rxDuplicate: 21,
  /** Incomplete messages dropped for the reassembly limits, and when they timed out. */
  rxEvicted: 22,
  rxExpired: 23,
  /** Authenticated messages whose frame entries do not parse. */
  rxBadEntries: 24,
  /** Frames the TAP refused. */
  rxTapFailed: 25,
  rxRecvFailed: 26,
  /** Datagrams (rx) or batches (tx) that hit an unexpected error: caught, counted, dropped. */
  rxInternal: 27,
  txInternal: 28,
  /** Fragments of another format version (a peer not yet upgraded, or one upgraded already). */
  rxWrongVersion: 29,
} as const;
export const STAT_COUNT = Object.keys(STAT).length;

export type SleeveStats = { -readonly [K in keyof typeof STAT]: number };

/**
 * Every counter that is a drop, with its reason as metrics, `weavets status` and the logs name it
 * (weavets_sleeve_dropped{reason}).
 */
export const DROP_REASONS = {
  txDropped: "send",
  txIcmpTooBig: "too_big",
  txNoKey: "no_session",
  txInternal: "internal_tx",
  noRoute: "no_route",
  rxMalformed: "malformed",
  rxWrongVersion: "wrong_version",
  rxUnknownSender: "unknown_sender",
  rxWrongSource: "wrong_source",
  rxWrongMode: "wrong_mode",
  rxNoKey: "unknown_key",
  rxAuthFailed: "auth",
  rxReplayed: "replay",
  rxOrphan: "orphan_fragment",
  rxBadShape: "bad_shape",
  rxDuplicate: "duplicate_fragment",
  rxEvicted: "reassembly_evicted",
  rxExpired: "reassembly_expired",
  rxBadEntries: "bad_entries",
  rxTapFailed: "tap_write",
  rxRecvFailed: "recv_error",
  rxInternal: "internal_rx",
} as const satisfies Partial<Record<keyof typeof STAT, string>>;

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
