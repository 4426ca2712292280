/**
 * Fast-path probes: tiny Ethernet frames (a local experimental EtherType) sent through the kernel
 * VXLAN device to a per-peer "probe MAC" that the peer's VXLAN FDB entry points at. The peer's
 * bridge hands them to its TAP, where the userspace path's sending Worker answers; the answer
 * comes back the same way. A round trip proves VXLAN works in both directions between the pair.
 * Pure.
 */
import { createHash } from "node:crypto";
import { ETH_HEADER, ethertype } from "../sleeve/frame.ts";

export const PROBE_ETHERTYPE = 0x88b5;
export const PROBE_REQUEST = 1;
export const PROBE_REPLY = 2;
const PROBE_FRAME = 60;
const MAGIC = [0x77, 0x74]; // "wt"

/** The locally administered unicast MAC that stands for `peer` on the fast path. */
export function probeMac(peer: string): string {
  const h = createHash("sha256").update(`weavets probe ${peer}`).digest();
  h[0] = (h[0] & 0xfe) | 0x02;
  return Array.from(h.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** A probe frame: dst, src, EtherType, magic, kind, sequence number, zero padding. */
export function buildProbe(
  dst: Uint8Array,
  src: Uint8Array,
  kind: number,
  seq: number,
): Uint8Array {
  const f = new Uint8Array(PROBE_FRAME);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = PROBE_ETHERTYPE >> 8;
  f[13] = PROBE_ETHERTYPE & 0xff;
  f.set(MAGIC, ETH_HEADER);
  f[ETH_HEADER + 2] = kind;
  new DataView(f.buffer).setUint32(ETH_HEADER + 3, seq >>> 0);
  return f;
}

export function isProbe(frame: Uint8Array, off = 0): boolean {
  return frame.length - off >= ETH_HEADER + 7 && ethertype(frame, off) === PROBE_ETHERTYPE;
}

/** kind and seq of a probe frame, or null when it is not one of ours. */
export function parseProbe(frame: Uint8Array, off = 0): { kind: number; seq: number } | null {
  if (!isProbe(frame, off)) return null;
  const p = off + ETH_HEADER;
  if (frame[p] !== MAGIC[0] || frame[p + 1] !== MAGIC[1]) return null;
  const kind = frame[p + 2];
  if (kind !== PROBE_REQUEST && kind !== PROBE_REPLY) return null;
  return { kind, seq: new DataView(frame.buffer, frame.byteOffset).getUint32(p + 3) };
}

/** Which path a pair uses, from when a probe reply was last seen. Pure. */
export function fastPathUp(lastReply: number | undefined, now: number, timeoutMs: number): boolean {
  return lastReply !== undefined && now - lastReply <= timeoutMs;
}

/** The least time between two out-of-schedule probes to one peer (shouldProbeBack). */
export const PROBE_BACK_MS = 200;

/**
 * Whether a probe request from a peer should be answered with a probe of our own at once: only
 * while the pair is not up here (its request proves its VXLAN reaches us; our reply is about to
 * move the pair to the fast path at its end), and at most once per PROBE_BACK_MS whatever a peer
 * sends. Pure.
 */
export function shouldProbeBack(
  lastReply: number | undefined,
  lastProbedBack: number | undefined,
  now: number,
  timeoutMs: number,
): boolean {
  if (fastPathUp(lastReply, now, timeoutMs)) return false;
  return lastProbedBack === undefined || now - lastProbedBack >= PROBE_BACK_MS;
}
