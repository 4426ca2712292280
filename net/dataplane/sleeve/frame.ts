/**
 * Ethernet frame fields the data plane switches on. Pure. MACs are handled as 48-bit numbers
 * ("MAC keys") on the hot path: a number compares and hashes far faster than a string.
 */

export const ETH_HEADER = 14;
export const ETHERTYPE_IPV4 = 0x0800;

/** The MAC at `off` as a number in [0, 2^48). */
export function macKeyAt(b: Uint8Array, off: number): number {
  return (b[off] * 0x10000000000) + (b[off + 1] * 0x100000000) +
    ((b[off + 2] << 24) >>> 0) + (b[off + 3] << 16) + (b[off + 4] << 8) + b[off + 5];
}

export function dstMacKey(frame: Uint8Array, off = 0): number {
  return macKeyAt(frame, off);
}

export function srcMacKey(frame: Uint8Array, off = 0): number {
  return macKeyAt(frame, off + 6);
}

export function isGroupDst(frame: Uint8Array, off = 0): boolean {
  return (frame[off] & 1) === 1;
}

export function ethertype(frame: Uint8Array, off = 0): number {
  return (frame[off + 12] << 8) | frame[off + 13];
}

export function macKeyFromString(mac: string): number {
  const parts = mac.split(":");
  if (parts.length !== 6) throw new Error(`invalid MAC "${mac}"`);
  let k = 0;
  for (const p of parts) {
    const v = parseInt(p, 16);
    if (!/^[0-9a-fA-F]{2}$/.test(p) || Number.isNaN(v)) throw new Error(`invalid MAC "${mac}"`);
    k = k * 256 + v;
  }
  return k;
}

export function macKeyToString(key: number): string {
  const out: string[] = [];
  for (let i = 5; i >= 0; i--) {
    out.push((Math.floor(key / 2 ** (8 * i)) % 256).toString(16).padStart(2, "0"));
  }
  return out.join(":");
}

/** Summary of a frame, for tests and diagnostics (the hot path uses the functions above). */
export interface FrameInfo {
  dst: string;
  src: string;
  ethertype: number;
  broadcast: boolean;
  multicast: boolean;
}

export function parseFrame(frame: Uint8Array): FrameInfo {
  if (frame.length < ETH_HEADER) {
    throw new Error(`frame of ${frame.length} bytes is shorter than an Ethernet header`);
  }
  const dst = dstMacKey(frame);
  return {
    dst: macKeyToString(dst),
    src: macKeyToString(srcMacKey(frame)),
    ethertype: ethertype(frame),
    broadcast: dst === 0xffffffffffff,
    multicast: isGroupDst(frame) && dst !== 0xffffffffffff,
  };
}
