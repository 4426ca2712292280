/**
 * Ring tokens as signed records (docs/PROTOCOL.md §9). Pure apart from hashing: the bytes a
 * token's author signs, the version rules, and the deterministic initial split.
 *
 * A token state ("link") says: at `version`, the addresses from `start` to the next token belong
 * to `owner`; `author` made that change and signed it. Who may author a token's next state is the
 * heart of the ownership rules (ring.ts): its current owner (a donation or a split), or — only
 * when that owner is unreachable — a peer taking it over with rmpeer (`takeover`).
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { SignatureCheck } from "../mesh/gossip_channel.ts";

export type PeerName = string;

/** The signature domain of a token state (net/mesh/signing.ts adds context and separators). */
export const TOKEN_DOMAIN = "ipam/token";
/** The signature domain of a consensus (Paxos) acceptor record. */
export const PAXOS_DOMAIN = "ipam/paxos";

/**
 * No token version above this is accepted: far below 2^53, so versions stay exact integers and a
 * forger cannot park a token at a version nobody can step past.
 */
export const MAX_VERSION = 2 ** 32 - 1;

/**
 * The largest step a token's version may take at once. Honest peers bump by 1 per change; a
 * receiver that missed changes sees one step per change it missed. A larger jump is refused.
 */
export const MAX_STEP = 1024;

/**
 * The most signatures one merge checks (about 15-20 ms of CPU here). In the daemon a time budget
 * usually binds first and the rest is merged in deferred slices (exchange.ts `defer`); without
 * deferral (the simulations) the rest waits for the next message that carries it.
 */
export const MAX_VERIFY_PER_MERGE = 256;

export interface Entry {
  start: number;
  owner: PeerName;
  /** Bumped by every ownership change of this token. */
  version: number;
  /** True when `owner` took this token from a removed peer (rmpeer) rather than receiving it. */
  takeover: boolean;
  /** Who made this state: the previous owner (donation), or the owner (split, takeover). */
  author: PeerName;
  /** The author's Ed25519 signature (base64url, 86 characters); "" for the initial split. */
  sig: string;
}

/** What a ring needs from the mesh: its own signing key, its peers' keys, reachability. */
export interface RingAuth {
  readonly self: PeerName;
  /** Signs `payload` under `domain` (TOKEN_DOMAIN by default) with this peer's key. */
  sign(payload: Uint8Array, domain?: string): Uint8Array;
  /** Checks `author`'s signature over `payload` under `domain` (default TOKEN_DOMAIN). */
  verify(author: PeerName, payload: Uint8Array, sig: Uint8Array, domain?: string): SignatureCheck;
  /** True when this peer has a route to `peer` now. */
  reachable(peer: PeerName): boolean;
}

/** Total order of a token's states: version, then owner-made over takeover, then owner name. */
export function entryOrder(a: Entry, b: Entry): number {
  if (a.version !== b.version) return a.version - b.version;
  if (a.takeover !== b.takeover) return a.takeover ? -1 : 1;
  return a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0;
}

export function sameEntry(a: Entry, b: Entry): boolean {
  return a.start === b.start && a.owner === b.owner && a.version === b.version &&
    a.takeover === b.takeover && a.author === b.author && a.sig === b.sig;
}

/**
 * What binds a signature to one ring: its range and the initial split it grew from, so a token
 * signed for another cluster or range is never valid here.
 */
export function ringScope(start: number, end: number, seed: string): string {
  return `${start}-${end} ${createHash("sha256").update(seed).digest("hex")}`;
}

const enc = new TextEncoder();

/**
 * The signed payload of a token state: text, one field per line —
 * `weavets-ipam-token 2`, scope, start, owner, version, takeover (0/1), author.
 */
export function tokenBytes(scope: string, e: Omit<Entry, "sig">): Uint8Array {
  return enc.encode(
    `weavets-ipam-token 2\n${scope}\n${e.start}\n${e.owner}\n${e.version}\n` +
      `${e.takeover ? 1 : 0}\n${e.author}`,
  );
}

export function sigToText(sig: Uint8Array): string {
  return Buffer.from(sig).toString("base64url");
}

export function sigFromText(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, "base64url"));
}

/** Signs a token state as `auth.self`. */
export function signEntry(auth: RingAuth, scope: string, e: Omit<Entry, "sig">): Entry {
  return { ...e, sig: sigToText(auth.sign(tokenBytes(scope, e))) };
}

/**
 * The deterministic initial split: the members sorted by name, equal contiguous shares. Every
 * peer computes it from the seed, so its version-0 tokens carry no signature.
 */
export function seedEntries(start: number, end: number, members: PeerName[]): Entry[] {
  const names = [...new Set(members)].sort();
  if (names.length === 0) throw new Error("cannot seed a ring with no members");
  const size = end - start;
  if (names.length > size) throw new Error(`range too small to split among ${names.length} peers`);
  return names.map((owner, i) => ({
    start: start + Math.floor((i * size) / names.length),
    owner,
    version: 0,
    takeover: false,
    author: owner,
    sig: "",
  }));
}

export function seedId(members: PeerName[]): string {
  return [...new Set(members)].sort().join(",");
}

export function seedMembers(seed: string): PeerName[] {
  return seed === "" ? [] : seed.split(",");
}
