/**
 * Who gets a connection. Pure: the router asks, with counts and facts, and acts on the answer.
 *
 * Two gates, as weaveworks/mesh's router (accept) and local_peer (handleAddConnection, breakTie):
 * - `admitSocket`, before any byte is read: the connection limit, and the handshake slots, of
 *   which one source address may hold only a few and strangers may not hold the last ones;
 * - `admit`, after the handshake: ourself, duplicates (the same choice on both ends), a
 *   restarted peer, and the connection limit with a share reserved for peers we know.
 */
import type { PeerName } from "./gossip_channel.ts";

/** Why a connection was refused: the label of weavets_connection_refusals_total. */
export type RefusalKind =
  | "conn-limit"
  | "conn-limit-unknown"
  | "handshakes"
  | "handshakes-per-source"
  | "handshake-timeout"
  | "handshake-failed"
  | "auth-failed"
  | "protocol-version"
  | "key-refused"
  | "self"
  | "duplicate"
  | "frame-too-large"
  | "frame-budget"
  | "frame-timeout";

export interface Limits {
  /** Established plus outbound pending connections; 0 is unlimited (Weave's meaning). */
  connLimit: number;
  /** Inbound handshakes in progress at once. */
  maxHandshakes: number;
  /** Inbound handshakes in progress at once from one source address. */
  maxHandshakesPerSource: number;
}

/** The share of connLimit that only known peers may use (peers we were told of, or vouched). */
export function reservedForKnown(connLimit: number): number {
  return Math.floor(connLimit / 4);
}

/** The handshake slots strangers may not take, so a restarting known peer always gets in. */
export function handshakesReservedForKnown(maxHandshakes: number): number {
  return Math.floor(maxHandshakes / 4);
}

export type Decision = { accept: true } | { accept: false; kind: RefusalKind; reason: string };

/** A new inbound socket, before its hello. `knownSource`: its address is one of our targets'. */
export function admitSocket(
  state: { connections: number; handshakes: number; handshakesFromSource: number },
  knownSource: boolean,
  limits: Limits,
): Decision {
  if (limits.connLimit > 0 && state.connections >= limits.connLimit) {
    return refuse("conn-limit", `connection limit ${limits.connLimit} reached`);
  }
  if (state.handshakesFromSource >= limits.maxHandshakesPerSource) {
    return refuse(
      "handshakes-per-source",
      `${limits.maxHandshakesPerSource} handshakes from this address in progress`,
    );
  }
  const room = limits.maxHandshakes -
    (knownSource ? 0 : handshakesReservedForKnown(limits.maxHandshakes));
  if (state.handshakes >= room) return refuse("handshakes", "too many handshakes in progress");
  return { accept: true };
}

/** One connection's facts, as admission sees them. */
export interface ConnFacts {
  name: PeerName;
  uid: string;
  /** We dialled it. */
  outbound: boolean;
}

export type Admission =
  | {
    accept: true;
    /** The existing connection to this peer is closed in favour of the new one, and why. */
    replace?: string;
  }
  | {
    accept: false;
    kind: RefusalKind;
    reason: string;
    /** The address leads to ourself: stop dialling it. */
    forgetTarget?: boolean;
    /** The existing connection stays (a duplicate that lost the tie-break). */
    duplicate?: boolean;
  };

/**
 * Admits an authenticated connection. `existing`: the connection to the same name, if any;
 * `established`: how many connections are admitted now; `unknownEstablished`: how many of them
 * are to peers not known (see reservedForKnown); `known`: whether this peer is.
 */
export function admit(
  self: { name: PeerName; uid: string },
  incoming: ConnFacts & { known: boolean },
  existing: ConnFacts | undefined,
  counts: { established: number; unknownEstablished: number },
  connLimit: number,
): Admission {
  if (incoming.name === self.name) {
    const reason = incoming.uid === self.uid ? "connected to ourself" : "the peer uses our name";
    return { accept: false, kind: "self", reason, forgetTarget: true };
  }
  if (existing) {
    if (existing.uid !== incoming.uid) return { accept: true, replace: "peer restarted" };
    // Deterministic on both ends: keep the connection dialled by the peer with the lower name.
    const initiator = (c: ConnFacts) => (c.outbound ? self.name : incoming.name);
    const keepNew = initiator(incoming) < initiator(existing);
    const reason = `duplicate connection to ${incoming.name}: keeping the one initiated by ${
      initiator(keepNew ? incoming : existing)
    }`;
    return keepNew
      ? { accept: true, replace: reason }
      : { accept: false, kind: "duplicate", reason, duplicate: true };
  }
  if (connLimit > 0) {
    if (counts.established >= connLimit) {
      return refuse("conn-limit", `connection limit ${connLimit} reached`);
    }
    const forStrangers = connLimit - reservedForKnown(connLimit);
    if (!incoming.known && counts.unknownEstablished >= forStrangers) {
      return refuse(
        "conn-limit-unknown",
        `connection limit for peers not known here reached (${forStrangers} of ${connLimit}; ` +
          `the rest is kept for known peers)`,
      );
    }
  }
  return { accept: true };
}

function refuse(
  kind: RefusalKind,
  reason: string,
): { accept: false; kind: RefusalKind; reason: string } {
  return { accept: false, kind, reason };
}
