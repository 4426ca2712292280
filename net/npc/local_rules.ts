/**
 * What the compile step keeps per local pod and direction: the entries its policies allow. Types
 * only, in a leaf module: compile.ts makes them and elements.ts renders them, and compile.ts
 * imports elements.ts.
 */
import type { PortRange } from "./ports.ts";

export interface Entry {
  /** A peer class, or every peer. */
  peer: number | "all";
  /** Absent: every protocol and port. */
  range?: PortRange;
  /** The policy key and rule index this entry comes from. */
  policy: string;
  rule: number;
}

export interface DirectionRules {
  /** Keys of the policies that select the pod in this direction. */
  policies: string[];
  /** The rules that allow every peer on every port (the direction is open). */
  openBy: Array<{ policy: string; rule: number }>;
  /** Bound by the CNI plugin, labels not known yet: closed. */
  pending: boolean;
  entries: Entry[];
}

/** A direction of a local pod as kept between compiles (entries are recomputed when asked). */
export type DirectionSummary = Omit<DirectionRules, "entries">;

export interface LocalPod {
  key: string;
  ips: number[];
  /** Null: no policy governs this direction, traffic passes. */
  ingress: DirectionSummary | null;
  egress: DirectionSummary | null;
}

/** A local pod with its rules' entries (what is rendered, and what explain() gives). */
export interface LocalRules extends LocalPod {
  ingress: DirectionRules | null;
  egress: DirectionRules | null;
}
