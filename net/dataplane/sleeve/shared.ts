/**
 * What the userspace path keeps across a Worker's death, in one SharedArrayBuffer the main thread
 * owns and hands to every Worker it starts:
 * - the message counter: every sending Worker takes sequence numbers in blocks with an atomic add,
 *   so two Workers (and a Worker and its replacement, even while the old one still runs) never
 *   share a block, and a nonce is never used twice under one key;
 * - each receive key's replay-window top (by its ring slot, keys.ts KEY_SLOTS; own and relay
 *   window), so a replacement Worker still refuses what its predecessor accepted;
 * - per role, the generation the supervisor runs now (an older Worker stops when it sees that it
 *   was replaced) and a heartbeat (ms since 1970, written every loop turn).
 */
import { KEY_SLOTS } from "./keys.ts";
import type { WorkerRole } from "./messages.ts";

/** Sequence numbers a Worker takes at once. */
export const SEQ_BLOCK = 65_536;
const ROLE = { tx: 0, rx: 1 } as const;
const SEQ_OFF = 0;
const GEN_OFF = 8;
const BEAT_OFF = 16;
const TOPS_OFF = 32;
const SIZE = TOPS_OFF + KEY_SLOTS * 2 * 8;

export class SleeveShared {
  readonly buffer: SharedArrayBuffer;
  readonly #seq: BigInt64Array;
  readonly #gen: Int32Array;
  readonly #beat: Float64Array;
  /** [2 × slot]: the own-message window's top, [2 × slot + 1]: the relay window's; -1: none. */
  readonly tops: Float64Array;

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(SIZE);
    this.#seq = new BigInt64Array(this.buffer, SEQ_OFF, 1);
    this.#gen = new Int32Array(this.buffer, GEN_OFF, 2);
    this.#beat = new Float64Array(this.buffer, BEAT_OFF, 2);
    this.tops = new Float64Array(this.buffer, TOPS_OFF, KEY_SLOTS * 2);
    if (!buffer) this.tops.fill(-1);
  }

  /** The first of SEQ_BLOCK sequence numbers no one else gets. */
  takeSeqBlock(): number {
    return Number(Atomics.add(this.#seq, 0, BigInt(SEQ_BLOCK)));
  }

  generation(role: WorkerRole): number {
    return Atomics.load(this.#gen, ROLE[role]);
  }

  /** Moves `role` to a new generation (the running Worker of that role stops); returns it. */
  nextGeneration(role: WorkerRole): number {
    return Atomics.add(this.#gen, ROLE[role], 1) + 1;
  }

  beat(role: WorkerRole, now: number): void {
    this.#beat[ROLE[role]] = now;
  }

  lastBeat(role: WorkerRole): number {
    return this.#beat[ROLE[role]];
  }
}

/** A Worker's sequence numbers: strictly increasing, drawn from the shared counter in blocks. */
export class SeqSource {
  #next = 0;
  #end = 0;
  constructor(readonly shared: SleeveShared) {}

  next(): number {
    if (this.#next === this.#end) {
      this.#next = this.shared.takeSeqBlock();
      this.#end = this.#next + SEQ_BLOCK;
    }
    return this.#next++;
  }
}
