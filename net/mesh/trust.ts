/**
 * Weave's --trusted-subnets, pure. With a password, traffic to a peer may skip encryption (the
 * kernel's VXLAN fast path) only when BOTH ends trust each other: this end's trusted subnets hold
 * the address the peer's control connection comes from (Weave's `TrustRemote`), and the peer
 * says, in its sealed and signed handshake identity, that its subnets hold ours
 * (`TrustedByRemote`). Weave's mesh calls a connection `Untrusted()` unless both hold.
 *
 * A peer's claim alone never suffices: it only withdraws trust (a lying peer can make the pair
 * encrypt, never make this end send plaintext). weavets adds one check Weave did not make: the
 * underlay address the plaintext would be sent to (the peer's signed macs record) must be inside
 * this end's trusted subnets too, so a record naming another address cannot lead plaintext
 * outside them.
 */
import { type Cidr, cidrContains, isIPv4, parseCidr, parseIPv4 } from "../addr/mod.ts";

/** This end's trusted subnets, parsed once. IPv4 only (as the rest of the underlay). */
export class TrustedSubnets {
  readonly #cidrs: Cidr[];
  constructor(readonly cidrs: readonly string[]) {
    this.#cidrs = cidrs.map((c) => parseCidr(c));
  }

  get empty(): boolean {
    return this.#cidrs.length === 0;
  }

  /**
   * Whether `address` (a dotted IPv4 address, or one mapped into IPv6 as a dual-stack socket
   * reports it: "::ffff:10.0.0.1") is inside one of the subnets. Anything else is not trusted.
   */
  contains(address: string): boolean {
    const a = address.toLowerCase().startsWith("::ffff:") ? address.slice(7) : address;
    if (!isIPv4(a)) return false;
    const ip = parseIPv4(a);
    return this.#cidrs.some((c) => cidrContains(c, ip));
  }
}

/** The two halves of a connection's trust, as Weave's mesh keeps them per connection. */
export interface ConnectionTrust {
  /** This end's subnets hold the peer's connection address. */
  trustRemote: boolean;
  /** The peer said (sealed, signed into the handshake) that its subnets hold ours. */
  trustedByRemote: boolean;
}

/** Weave's `!conn.Untrusted()`: both ends trust each other. */
export function mutuallyTrusted(t: ConnectionTrust | undefined): boolean {
  return t !== undefined && t.trustRemote && t.trustedByRemote;
}

/**
 * Whether this end may send a peer's pod traffic unencrypted. Without a password there is nothing
 * to skip. With one: mutual trust on the direct connection, and the address the plaintext goes to
 * inside this end's subnets.
 */
export function plaintextAllowed(i: {
  encrypted: boolean;
  mutual: boolean;
  recordAddr: string;
  subnets: TrustedSubnets;
}): boolean {
  if (!i.encrypted) return true;
  return i.mutual && i.subnets.contains(i.recordAddr);
}
