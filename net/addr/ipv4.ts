/**
 * IPv4 addresses as unsigned 32-bit numbers, and CIDR prefixes. Pure: no I/O.
 * Every parser rejects what the kernel or `ip` would reject, with a message naming the input.
 */
import { WeavetsError } from "../errors.ts";

export class AddrError extends WeavetsError {
  override name = "AddrError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("invalid-input", message, opts);
  }
}

/** An IPv4 address as an unsigned 32-bit integer. */
export type IPv4 = number;

/** A CIDR: an address (not necessarily the network address) and a prefix length. */
export interface Cidr {
  ip: IPv4;
  prefix: number;
}

const OCTET = /^(0|[1-9][0-9]{0,2})$/;

export function parseIPv4(text: string): IPv4 {
  const parts = text.split(".");
  if (parts.length !== 4) throw new AddrError(`invalid IPv4 address "${text}"`);
  let n = 0;
  for (const p of parts) {
    if (!OCTET.test(p) || Number(p) > 255) {
      throw new AddrError(`invalid IPv4 address "${text}"`);
    }
    n = n * 256 + Number(p);
  }
  return n >>> 0;
}

export function isIPv4(text: string): boolean {
  try {
    parseIPv4(text);
    return true;
  } catch {
    return false;
  }
}

export function formatIPv4(ip: IPv4): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

export function ipv4ToBytes(ip: IPv4): Uint8Array {
  return new Uint8Array([ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255]);
}

export function ipv4FromBytes(b: Uint8Array, offset = 0): IPv4 {
  if (b.length < offset + 4) throw new AddrError("IPv4 address needs 4 bytes");
  return ((b[offset] << 24) | (b[offset + 1] << 16) | (b[offset + 2] << 8) | b[offset + 3]) >>> 0;
}

/** The netmask of a prefix length as a number (0 for /0). */
export function prefixMask(prefix: number): number {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
    throw new AddrError(`invalid prefix length ${prefix}`);
  }
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses `a.b.c.d/len`. The address part is kept as given (host bits allowed). */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf("/");
  if (slash < 0) throw new AddrError(`invalid CIDR "${text}": missing "/prefix"`);
  const ip = parseIPv4(text.slice(0, slash));
  const p = text.slice(slash + 1);
  if (!/^[0-9]{1,2}$/.test(p) || Number(p) > 32) {
    throw new AddrError(`invalid CIDR "${text}": prefix must be 0..32`);
  }
  return { ip, prefix: Number(p) };
}

export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.ip)}/${c.prefix}`;
}

/** The network address of a CIDR (host bits cleared). */
export function networkOf(c: Cidr): IPv4 {
  return (c.ip & prefixMask(c.prefix)) >>> 0;
}

/** The CIDR with host bits cleared, e.g. 10.32.1.5/12 → 10.32.0.0/12. */
export function canonical(c: Cidr): Cidr {
  return { ip: networkOf(c), prefix: c.prefix };
}

/** The broadcast (last) address of a CIDR. */
export function broadcastOf(c: Cidr): IPv4 {
  return (networkOf(c) | (~prefixMask(c.prefix) >>> 0)) >>> 0;
}

/** How many addresses the prefix covers (2^(32-prefix)). */
export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function cidrContains(c: Cidr, ip: IPv4): boolean {
  return ((ip & prefixMask(c.prefix)) >>> 0) === networkOf(c);
}

/** True when `inner` lies wholly inside `outer`. */
export function cidrContainsCidr(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && cidrContains(outer, inner.ip);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContainsCidr(a, b) || cidrContainsCidr(b, a);
}

/** The next address, wrapping to 0.0.0.0 after 255.255.255.255. */
export function nextIPv4(ip: IPv4): IPv4 {
  return (ip + 1) >>> 0;
}

/** The address `n` after `ip` (n may be negative); throws when it leaves the IPv4 space. */
export function addIPv4(ip: IPv4, n: number): IPv4 {
  const r = ip + n;
  if (r < 0 || r > 0xffffffff) throw new AddrError(`address arithmetic overflow`);
  return r;
}
