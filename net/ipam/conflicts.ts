/**
 * Conflicts this peer reports and cannot settle alone (a foreign ring, a consensus that cannot
 * proceed, space lost while away): bounded and deduplicated, so a peer that repeats the same bad
 * message costs a counter, not a log line or memory per message. Pure: time comes in as `now`.
 */
import type { Conflict, ConflictKind } from "./types.ts";

/** Enough for every distinct problem an operator can act on; beyond it only counts grow. */
export const MAX_CONFLICTS = 64;

export class ConflictLog {
  readonly #byKey = new Map<string, Conflict>();
  readonly #max: number;
  /** Reports that found the log full: distinct conflicts that were not kept. */
  dropped = 0;

  constructor(max = MAX_CONFLICTS) {
    this.#max = max;
  }

  /**
   * Records a conflict. Returns it when it is new (the caller logs it once), null when it was
   * already known (its count grows) or the log is full.
   */
  report(kind: ConflictKind, subject: string, message: string, now: number): Conflict | null {
    const key = `${kind}\0${subject}`;
    const known = this.#byKey.get(key);
    if (known) {
      known.count++;
      known.message = message;
      return null;
    }
    if (this.#byKey.size >= this.#max) {
      this.dropped++;
      return null;
    }
    const c: Conflict = { kind, subject, message, since: now, count: 1 };
    this.#byKey.set(key, c);
    return c;
  }

  /** The conflict is over (e.g. the consensus went ahead). */
  resolve(kind: ConflictKind, subject: string): void {
    this.#byKey.delete(`${kind}\0${subject}`);
  }

  list(): Conflict[] {
    return [...this.#byKey.values()].map((c) => ({ ...c }));
  }

  get size(): number {
    return this.#byKey.size;
  }
}

/** A peer signed a takeover of this peer's own space: refused (ring.ts), and what to do. */
export function lostSpaceMessage(by: string): string {
  return `peer ${by} signed a takeover of IP space this peer owns (was this peer removed with ` +
    `rmpeer while it was away?): refused; this peer keeps its space and allocations. If it was ` +
    `removed on purpose, stop it, delete its data dir and start it again; both peers may hand ` +
    `out the same addresses until then`;
}

/** Allocations that gossip says lie in others' space: kept, never released because of gossip. */
export function outsideMessage(n: number, example: string): string {
  return `${n} addresses allocated here (e.g. ${example}) lie in space the ring gives to other ` +
    `peers: kept (not released, not handed out again) until their pods go; compare ` +
    `'weavets status ipam' on every peer`;
}
