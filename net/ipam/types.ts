/**
 * The shapes the IPAM modules share (a leaf: imports only types). Pure data.
 */
import type { PersistedMeta } from "./wire.ts";

export type PeerName = string;

/** An allocation's key: the CNI attachment (container id, interface name). */
export interface AllocKey {
  id: string;
  ifname: string;
}

export interface Allocation extends AllocKey {
  ip: number;
}

export function keyString(k: AllocKey): string {
  return `${k.id} ${k.ifname}`;
}

export type InitMode =
  | { kind: "consensus"; expected: number }
  | { kind: "seed"; members: PeerName[] }
  | { kind: "observer" };

/**
 * The answer to an allocation or claim: the address, a reason to wait (consensus, space asked
 * for), or a refusal with the HTTP status Weave's API gives it.
 */
export type Outcome =
  | { ok: true; ip: number }
  | { ok: false; wait: string }
  | { ok: false; status: 400 | 404 | 409; error: string };

export type RmpeerOutcome =
  | { ok: true; taken: number; name: PeerName }
  | { ok: false; status: 404 | 409; error: string };

/** Where changes go before they are visible to anyone (SQLite in the daemon, memory in tests). */
export interface Persistence {
  saveMeta(meta: PersistedMeta): void;
  putAllocation(a: Allocation): void;
  deleteAllocations(keys: AllocKey[]): void;
}

/** One peer's share of the range, as this peer sees it. */
export interface PeerShare {
  name: PeerName;
  nickname: string;
  owned: number;
  reachable: boolean;
}

/** Something this peer cannot settle alone and an operator may need to know (see conflicts.ts). */
export interface Conflict {
  kind: ConflictKind;
  /** What it is about (a peer, a range, an address); with `kind`, what makes it the same one. */
  subject: string;
  /** One line that says what happened and what to do. */
  message: string;
  /** When it was first seen (ms since the epoch). */
  since: number;
  /** How many times it was seen. */
  count: number;
}

export type ConflictKind =
  /** A peer's ring cannot belong to this cluster (another seed, another range). */
  | "foreign-ring"
  /** The initial consensus cannot proceed as configured. */
  | "consensus"
  /** Another peer signed a takeover of this peer's space (rmpeer while away): refused. */
  | "lost-space"
  /** Allocations here lie in space the ring gives to others: kept, never released by gossip. */
  | "gossip-allocations"
  /** An address found in use on this node (bridge, pods) that IPAM could not claim for it. */
  | "existing-address";

/** The whole IPAM state in one view: what status text, JSON, metrics and reports render. */
export interface IpamStatus {
  /** "ready", or why allocations wait. */
  state: string;
  range: string;
  self: PeerName;
  /** Allocations held on this peer. */
  allocated: number;
  peers: PeerShare[];
  /** Requests waiting for consensus or space. */
  pendingAllocates: number;
  pendingClaims: number;
  conflicts: Conflict[];
  /** Token states received and refused since start, by reason (ring.ts `Refusal`). */
  refusedTokens: Record<string, number>;
}
