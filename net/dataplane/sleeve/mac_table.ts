/**
 * Where each MAC lives: learned from the source of frames received from peers (as Weave's sleeve
 * does), expiring when not seen for a while, and at most `maxEntries` of them (a peer sending
 * frames from ever new MACs fills it to that, no further). Pure: the caller passes the clock.
 */

export class MacTable<P> {
  readonly #entries = new Map<number, { peer: P; seen: number }>();
  #sweptFull = -Infinity;

  constructor(readonly ttlMs: number, readonly maxEntries = 65_536) {}

  /**
   * Records `mac` at `peer`; returns true when this is new or moved (worth telling others). A new
   * MAC while the table is full is not recorded (after expired entries were dropped).
   */
  learn(mac: number, peer: P, now: number): boolean {
    const e = this.#entries.get(mac);
    if (e && e.peer === peer) {
      e.seen = now;
      return false;
    }
    if (!e && this.#entries.size >= this.maxEntries) {
      // Full: look for expired entries at most once a second (a scan per frame would be a DoS).
      if (now - this.#sweptFull < 1000) return false;
      this.#sweptFull = now;
      if (this.expire(now) === 0) return false;
    }
    this.#entries.set(mac, { peer, seen: now });
    return true;
  }

  /** The peer owning `mac`, or undefined when unknown or expired. */
  lookup(mac: number, now: number): P | undefined {
    const e = this.#entries.get(mac);
    if (!e) return undefined;
    if (now - e.seen > this.ttlMs) {
      this.#entries.delete(mac);
      return undefined;
    }
    return e.peer;
  }

  /** Drops expired entries; returns how many went. */
  expire(now: number): number {
    let n = 0;
    for (const [mac, e] of this.#entries) {
      if (now - e.seen > this.ttlMs) {
        this.#entries.delete(mac);
        n++;
      }
    }
    return n;
  }

  /** Forgets every MAC located at `peer` (the peer went away). */
  forgetPeer(peer: P): void {
    for (const [mac, e] of this.#entries) if (e.peer === peer) this.#entries.delete(mac);
  }

  get size(): number {
    return this.#entries.size;
  }
}
