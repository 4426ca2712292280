/**
 * Which addresses a request may get: the cluster range or a subnet of it, minus the network and
 * broadcast addresses, and the refusals a request outside them gets. Pure; split from
 * allocator.ts so that the allocator reads as its bookkeeping.
 */
import type { Cidr } from "../addr/mod.ts";
import { cidrSize, formatCidr, formatIPv4, networkOf } from "../addr/mod.ts";
import { reservedOf } from "./allocations.ts";
import type { AllocKey, Outcome } from "./types.ts";

/** Addresses [lo, hi) a request may get, less `reserved`. */
export interface Bounds {
  lo: number;
  hi: number;
  reserved: Set<number>;
}

/** The whole cluster range (`range` as normalised by the allocator). */
export function rangeBounds(range: Cidr): Bounds {
  const lo = networkOf(range);
  return { lo, hi: lo + cidrSize(range), reserved: reservedOf(range) };
}

/** A subnet of the cluster range; its own network and broadcast addresses are reserved too. */
export function subnetBounds(range: Cidr, c: Cidr): Bounds | { error: string } {
  const r = rangeBounds(range);
  const lo = networkOf(c), hi = lo + cidrSize(c);
  if (c.prefix < range.prefix || lo < r.lo || hi > r.hi) {
    return { error: `subnet ${formatCidr(c)} is not inside the IP range ${formatCidr(range)}` };
  }
  return { lo, hi, reserved: new Set([...r.reserved, ...reservedOf(c)]) };
}

/** An address claimed outside the range or on a reserved address: a 400 saying which. */
export function claimOutside(range: Cidr, ip: number): Outcome | null {
  const b = rangeBounds(range), text = formatCidr(range);
  if (ip < b.lo || ip >= b.hi) {
    return { ok: false, status: 400, error: `${formatIPv4(ip)} is outside ${text}` };
  }
  if (b.reserved.has(ip)) {
    return {
      ok: false,
      status: 400,
      error: `${formatIPv4(ip)} is the network or broadcast address of ${text}`,
    };
  }
  return null;
}

/** A container asks again, for another subnet than the address it holds: a 409. */
export function heldElsewhere(key: AllocKey, held: number, within: string): Outcome {
  return {
    ok: false,
    status: 409,
    error: `container ${key.id} (${key.ifname || "no ifname"}) already has ${
      formatIPv4(held)
    }, outside ${within}`,
  };
}
