/**
 * Messages between the main thread and the userspace-path Workers, and the shared statistics
 * layout. The Workers run tight synchronous loops and read these between batches.
 */

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
  /** 16 hex digits. */
  epoch: string;
  encrypted: boolean;
  /** Learned MACs expire after this long unseen. */
  macTtlMs: number;
  /** This peer's fast-path probe MAC (probe.ts): probes to it are answered, not forwarded. */
  probeMac: string;
  stats: SharedArrayBuffer;
  /** tx ↔ rx: learned MAC locations flow from rx to tx. */
  port: MessagePort;
}

/** One peer as the Workers see it. */
export interface SleevePeer {
  name: string;
  addr: string;
  port: number;
  /** This pair uses the userspace path now (else frames to its MACs are left to the fast path). */
  sleeve: boolean;
  /** 16 hex digits: the epoch the peer announced (messages from other epochs are refused). */
  epoch: string;
  /** Keys for self→peer (tx) and peer→self (rx); absent when not encrypted. */
  txKey?: Uint8Array;
  rxKey?: Uint8Array;
  /** MACs gossiped as living on this peer's bridge. */
  macs: string[];
}

export interface SleevePeersUpdate {
  type: "peers";
  peers: SleevePeer[];
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
} as const;
export const STAT_COUNT = 12;

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
