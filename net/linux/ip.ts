/**
 * IPv4-or-IPv6 addresses as kernel byte strings, for netlink attributes. IPv4 parsing is
 * net/addr's; IPv6 (needed only where cheap) is parsed and formatted here (RFC 4291 text,
 * RFC 5952 canonical output). Pure.
 */

import { formatIPv4, ipv4FromBytes, ipv4ToBytes, parseIPv4 } from "../addr/mod.ts";

export interface IpBytes {
  family: 4 | 6;
  bytes: Uint8Array;
}

export interface IpPrefix extends IpBytes {
  prefix: number;
}

function parseIPv6(text: string): Uint8Array {
  const bad = () => new Error(`invalid IPv6 address "${text}"`);
  let head = text;
  let tail4: Uint8Array | undefined;
  // A trailing dotted quad ("::ffff:1.2.3.4") stands for the last two groups.
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    tail4 = ipv4ToBytes(parseIPv4(text.slice(lastColon + 1)));
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = head.split("::");
  if (halves.length > 2) throw bad();
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const left = groups(halves[0]);
  const right = halves.length === 2 ? groups(halves[1]) : [];
  const total = left.length + right.length;
  if (halves.length === 1 ? total !== 8 : total > 7) throw bad();
  const all = [...left, ...Array(8 - total).fill("0"), ...right];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw bad();
    const n = parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 255;
  });
  if (tail4) out.set(tail4, 12);
  return out;
}

function formatIPv6(b: Uint8Array): string {
  const g = Array.from({ length: 8 }, (_, i) => (b[2 * i] << 8) | b[2 * i + 1]);
  // Longest run (≥ 2) of zero groups becomes "::" (first one on ties).
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** Parses an IPv4 or IPv6 address; throws an Error naming the input. */
export function parseIp(text: string): IpBytes {
  if (text.includes(":")) return { family: 6, bytes: parseIPv6(text) };
  return { family: 4, bytes: ipv4ToBytes(parseIPv4(text)) };
}

/** Formats 4 or 16 address bytes. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return formatIPv4(ipv4FromBytes(bytes));
  if (bytes.length === 16) return formatIPv6(bytes);
  throw new Error(`an IP address has 4 or 16 bytes, got ${bytes.length}`);
}

/** Parses "addr/len" (IPv4 or IPv6); "default" is 0.0.0.0/0. */
export function parseIpPrefix(text: string): IpPrefix {
  if (text === "default") return { family: 4, bytes: new Uint8Array(4), prefix: 0 };
  const slash = text.indexOf("/");
  if (slash < 0) throw new Error(`invalid CIDR "${text}": missing "/prefix"`);
  const ip = parseIp(text.slice(0, slash));
  const max = ip.family === 4 ? 32 : 128;
  const p = text.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(p) || Number(p) > max) {
    throw new Error(`invalid CIDR "${text}": prefix must be 0..${max}`);
  }
  return { ...ip, prefix: Number(p) };
}

export function formatIpPrefix(bytes: Uint8Array, prefix: number): string {
  return `${formatIp(bytes)}/${prefix}`;
}
