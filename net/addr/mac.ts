/** 48-bit MAC addresses (also the shape of weavets peer names). Pure: no I/O. */

import { AddrError } from "./ipv4.ts";

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export function isMac(text: string): boolean {
  return MAC_RE.test(text);
}

export function parseMac(text: string): Uint8Array {
  if (!MAC_RE.test(text)) throw new AddrError(`invalid MAC address "${text}"`);
  return new Uint8Array(text.split(":").map((h) => parseInt(h, 16)));
}

export function formatMac(b: Uint8Array): string {
  if (b.length !== 6) throw new AddrError(`MAC address needs 6 bytes, got ${b.length}`);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
}

export function isBroadcastMac(b: Uint8Array): boolean {
  return b.length === 6 && b.every((x) => x === 0xff);
}

/** Group bit set: broadcast and multicast frames. */
export function isMulticastMac(b: Uint8Array): boolean {
  return (b[0] & 1) === 1;
}

/**
 * A locally administered unicast MAC from arbitrary bytes (e.g. a hash): sets the
 * locally-administered bit and clears the multicast bit, as the kernel does for random MACs.
 */
export function localUnicastMac(seed: Uint8Array): Uint8Array {
  if (seed.length < 6) throw new AddrError("need at least 6 seed bytes");
  const m = seed.slice(0, 6);
  m[0] = (m[0] & 0xfe) | 0x02;
  return m;
}
