/**
 * The initial split for `--ipalloc-init=consensus[=N]`: single-decree Paxos carried by gossip.
 * Pure: no I/O; time comes in as an argument.
 *
 * Every participant is an acceptor and may propose. The gossiped state is each participant's
 * acceptor record (promised ballot, accepted ballot and value); only a participant writes its own
 * record and its records only grow, so merging keeps the larger record per participant — a CRDT
 * like the ring. Phase 1 ("prepare"): a proposer promises its new ballot itself; acceptors promise
 * the highest ballot they see. Phase 2: when a quorum's current promise is the proposer's ballot,
 * it accepts the value with the highest ballot those records carry, or else its own proposal (the
 * sorted participants it knows); acceptors accept a ballot's value when they have not promised a
 * higher one. A value is decided when a quorum has accepted the same ballot.
 *
 * Why it cannot produce "seeded by different peers": the value for a ballot is chosen once, by
 * that ballot's proposer; any two quorums of floor(N/2)+1 out of N participants share an acceptor,
 * and that acceptor's promise forces a later ballot to carry the earlier chosen value (the classic
 * Paxos argument, records persisted before they are sent). So at most one member set is ever
 * decided, and every peer builds the same deterministic split from it. The precondition is that
 * no more than N peers take part before a decision; a peer that sees more refuses to propose and
 * says so. Rings built from different decisions are refused at merge (different seed ids).
 */
import type { PeerName } from "./ring.ts";
import type { MergeLimit } from "./links.ts";
import { MAX_VERIFY_PER_MERGE } from "./token.ts";

/** [round, proposer]; ordered by round, then proposer name. */
export type Ballot = [number, PeerName];
export const ZERO: Ballot = [0, ""];

export interface Acceptor {
  promised: Ballot;
  accepted: { ballot: Ballot; value: PeerName[] } | null;
  /** The participant's signature over `acceptorBytes` (docs/PROTOCOL.md §9). */
  sig?: string;
}

/**
 * Signs and checks acceptor records: each participant writes only its own, so a record is valid
 * only with its participant's signature (a forger cannot promise or accept for another peer).
 */
export interface RecordAuth {
  sign(name: PeerName, rec: Acceptor): string;
  check(name: PeerName, rec: Acceptor): "valid" | "invalid" | "unknown-author";
}

const enc = new TextEncoder();

/** The signed payload of an acceptor record: text, one field per line. */
export function acceptorBytes(scope: string, name: PeerName, rec: Acceptor): Uint8Array {
  const a = rec.accepted;
  return enc.encode(
    `weavets-ipam-paxos 2\n${scope}\n${name}\n${rec.promised[0]} ${rec.promised[1]}\n` +
      (a ? `${a.ballot[0]} ${a.ballot[1]}\n${a.value.join(",")}` : "-"),
  );
}

export type PaxosState = Record<PeerName, Acceptor>;

export function ballotCmp(a: Ballot, b: Ballot): number {
  if (a[0] !== b[0]) return a[0] - b[0];
  return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
}

function acceptorCmp(a: Acceptor, b: Acceptor): number {
  return ballotCmp(a.promised, b.promised) ||
    ballotCmp(a.accepted?.ballot ?? ZERO, b.accepted?.ballot ?? ZERO);
}

function copyAcceptor(a: Acceptor): Acceptor {
  const out: Acceptor = {
    promised: [a.promised[0], a.promised[1]],
    accepted: a.accepted
      ? { ballot: [a.accepted.ballot[0], a.accepted.ballot[1]], value: [...a.accepted.value] }
      : null,
  };
  if (a.sig !== undefined) out.sig = a.sig;
  return out;
}

function copyState(s: PaxosState): PaxosState {
  const out: PaxosState = {};
  for (const [k, v] of Object.entries(s)) out[k] = copyAcceptor(v);
  return out;
}

export class Paxos {
  readonly quorum: number;
  #state: PaxosState;
  /** This peer's latest own ballot. */
  #proposal: { ballot: Ballot; at: number } | null = null;
  /** When another proposer's higher ballot was last seen; retries wait from then. */
  #quietSince = -Infinity;
  /** Received records refused for their signature, since start. */
  readonly refused = { "bad-signature": 0, "unknown-author": 0 };

  constructor(
    readonly self: PeerName,
    /** The number of peers expected to take part (N). */
    readonly expected: number,
    persisted: PaxosState | null = null,
    /** How long a proposal may stay undecided before a new ballot. */
    readonly retryMs = 2000,
    /** Signs this peer's record and checks others'; none in unit tests of the algorithm. */
    readonly auth: RecordAuth | null = null,
  ) {
    if (!Number.isInteger(expected) || expected < 1) throw new Error("consensus needs N >= 1");
    this.quorum = Math.floor(expected / 2) + 1;
    this.#state = copyState(persisted ?? {});
    this.#state[self] ??= { promised: ZERO, accepted: null };
    if (auth && this.#state[self].sig === undefined) this.#signOwn();
  }

  #signOwn(): void {
    const own = this.#state[this.self];
    delete own.sig;
    if (this.auth) own.sig = this.auth.sign(this.self, own);
  }

  state(): PaxosState {
    return copyState(this.#state);
  }

  own(): Acceptor {
    return this.#state[this.self];
  }

  /** How many participants this peer knows (itself included). */
  known(): number {
    return Object.keys(this.#state).length;
  }

  /**
   * Joins a peer's view of the records. Returns true when anything changed. Checks signatures
   * within `limit` (as a ring merge: a forged message of thousands of records must not hold the
   * event loop); the records left unchecked come again with the next message (every participant
   * gossips its state at every step).
   */
  merge(other: PaxosState, limit: MergeLimit = {}): boolean {
    let changed = false, checks = 0;
    const max = limit.maxChecks ?? MAX_VERIFY_PER_MERGE;
    for (const [name, rec] of Object.entries(other)) {
      if (name === this.self) continue; // only this peer writes its own record
      const cur = this.#state[name];
      if (!cur || acceptorCmp(rec, cur) > 0) {
        if (this.auth && (checks >= max || (checks > 0 && limit.stop?.()))) break;
        checks++;
        const check = this.auth?.check(name, rec) ?? "valid";
        if (check !== "valid") {
          this.refused[check === "invalid" ? "bad-signature" : "unknown-author"]++;
          continue;
        }
        this.#state[name] = copyAcceptor(rec);
        changed = true;
      }
    }
    return changed;
  }

  /** The decided member set, or null. */
  decided(): PeerName[] | null {
    const groups = new Map<string, { n: number; value: PeerName[] }>();
    for (const rec of Object.values(this.#state)) {
      if (!rec.accepted) continue;
      const k = rec.accepted.ballot.join("\0");
      const g = groups.get(k) ?? { n: 0, value: rec.accepted.value };
      g.n++;
      groups.set(k, g);
    }
    for (const g of groups.values()) if (g.n >= this.quorum) return g.value;
    return null;
  }

  /**
   * Advances this peer's own record from what it knows. Returns true when the own record changed
   * (the caller persists, then gossips). `error` is set when more peers take part than expected.
   */
  step(now: number): { changed: boolean; error?: string } {
    if (this.decided()) return { changed: false };
    const own = this.own();
    const { sig: _, ...unsigned } = own;
    const before = JSON.stringify(unsigned);
    // Acceptor, phase 1: promise the highest ballot anybody has promised.
    for (const rec of Object.values(this.#state)) {
      if (ballotCmp(rec.promised, own.promised) > 0) {
        own.promised = [...rec.promised];
        // Another proposer is ahead: give it time before competing with a new ballot.
        this.#quietSince = now;
      }
    }
    // Acceptor, phase 2: accept a proposed value whose ballot we have not promised to beat.
    for (const rec of Object.values(this.#state)) {
      const a = rec.accepted;
      if (!a || ballotCmp(a.ballot, own.promised) < 0) continue;
      if (own.accepted && ballotCmp(own.accepted.ballot, a.ballot) >= 0) continue;
      own.promised = [...a.ballot];
      own.accepted = { ballot: [...a.ballot], value: [...a.value] };
    }
    let error: string | undefined;
    if (this.known() > this.expected) {
      error = `${this.known()} peers take part in the IP allocation consensus but ` +
        `--ipalloc-init=consensus=${this.expected} expects at most ${this.expected}: set N to ` +
        `the number of peers starting together`;
    }
    const p = this.#proposal;
    if (
      p && ballotCmp(own.promised, p.ballot) === 0 &&
      !(own.accepted && ballotCmp(own.accepted.ballot, p.ballot) === 0)
    ) {
      // Proposer, phase 2. `p` is always this peer's own ballot: only a ballot's proposer picks
      // its value, which is what makes the value of a ballot unique.
      const promisers = Object.values(this.#state).filter((r) =>
        ballotCmp(r.promised, p.ballot) === 0
      );
      if (promisers.length >= this.quorum) {
        let best: Acceptor["accepted"] = null;
        for (const r of promisers) {
          if (r.accepted && (!best || ballotCmp(r.accepted.ballot, best.ballot) > 0)) {
            best = r.accepted;
          }
        }
        const value = best ? [...best.value] : Object.keys(this.#state).sort();
        own.accepted = { ballot: [...p.ballot], value };
      }
    }
    // Proposer, phase 1: start (or retry) once a quorum of participants is known, and not while
    // another proposer's higher ballot is recent.
    const since = Math.max(p?.at ?? -Infinity, this.#quietSince);
    if (
      !error && this.known() >= this.quorum &&
      now - since >= this.#retryDelay(p?.ballot[0] ?? 0)
    ) {
      const round = Math.max(
        ...Object.values(this.#state).map((r) =>
          Math.max(r.promised[0], r.accepted?.ballot[0] ?? 0)
        ),
      ) + 1;
      const ballot: Ballot = [round, this.self];
      own.promised = ballot;
      this.#proposal = { ballot, at: now };
    }
    const { sig: __, ...after } = own;
    const changed = JSON.stringify(after) !== before;
    if (changed) this.#signOwn();
    return { changed, error };
  }

  /** Retries spread by name and round so dueling proposers separate. */
  #retryDelay(round: number): number {
    let h = round * 2654435761;
    for (const c of this.self) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
    return this.retryMs + ((h >>> 0) % this.retryMs);
  }
}
