/**
 * The sending half both userspace-path Workers share (the TAP reader sends what pods send, the
 * UDP reader relays for others): a message for one neighbour is numbered from the Worker's
 * sequence numbers (shared.ts), sealed under that connection's key when encrypted, cut into
 * fragments in an off-heap arena (a message of several fragments led by its length and, sealed,
 * by its tag and commit tag: format.ts), and queued; `flush` sends the queue with sendmmsg (each
 * message one UDP GSO send), waiting for room when the socket buffer is full. Synchronous FFI
 * only: it runs inside the Workers.
 */
import { MessageComposer, type SealKey } from "./compose.ts";
import { Arena, MmsgArray, MMSGHDR } from "./ffi_structs.ts";
import { type MessageHeader, writeFragments } from "./format.ts";
import { type SleeveWorkerInit, STAT } from "./messages.ts";
import { SeqSource, type SleeveShared } from "./shared.ts";
import { errno, libc } from "../../linux/mod.ts";

const POLLOUT = 4;
const EAGAIN = 11;
const EINTR = 4;

/** A neighbour messages go to: its sockaddr_in, and (encrypted) the key of the connection to it. */
export interface SendHop {
  saPtr: bigint;
  key: SealKey | null;
}

/** The Worker's socket, fragment size (segSize) and UDP GSO, plus this sender's bounds. */
export interface SenderOptions extends Pick<SleeveWorkerInit, "udpFd" | "segSize" | "gso"> {
  /** How many sends one sendmmsg takes at most. */
  maxSends: number;
  arenaBytes: number;
  stats: Float64Array;
  /** The Worker's sequence numbers (the nonces when encrypted). */
  seqs: SeqSource;
}

export class SleeveSender {
  readonly #o: SenderOptions;
  readonly #arena: Arena;
  readonly #mm: MmsgArray;
  /** Offset and length in the arena of each queued send. */
  readonly #sends: number[] = [];
  readonly #composer = new MessageComposer();
  readonly #pollOut = new Uint8Array(8);
  #off = 0;

  /** A Worker's sender: its socket and counters from its init, its numbers from `shared`. */
  static of(
    init: SleeveWorkerInit,
    stats: Float64Array,
    shared: SleeveShared,
    bounds: Pick<SenderOptions, "maxSends" | "arenaBytes">,
  ): SleeveSender {
    return new SleeveSender({ ...init, ...bounds, stats, seqs: new SeqSource(shared) });
  }

  constructor(o: SenderOptions) {
    this.#o = o;
    this.#arena = new Arena(o.arenaBytes);
    this.#mm = new MmsgArray(o.maxSends);
    new DataView(this.#pollOut.buffer).setInt32(0, o.udpFd, true);
    new DataView(this.#pollOut.buffer).setInt16(4, POLLOUT, true);
  }

  get pending(): boolean {
    return this.#sends.length > 0;
  }

  /**
   * Queues `body` to `hop` under `header` (its seq, and key id when sealed, are set here). The
   * caller has made sure an encrypted message has a key. Returns the datagrams it makes on the
   * underlay.
   */
  queue(hop: SendHop, header: MessageHeader, body: Uint8Array[]): number {
    const { segSize, gso, maxSends } = this.#o;
    header.seq = this.#o.seqs.next();
    const { plan, chunks } = this.#composer.compose(header, body, hop.key, segSize);
    const sends = this.#sends;
    let before = sends.length;
    let end = writeFragments(
      this.#arena.bytes,
      this.#off,
      header,
      plan,
      chunks,
      segSize,
      sends,
      gso,
    );
    if (end < 0 || sends.length / 2 > maxSends) {
      sends.length = before;
      this.flush();
      before = 0;
      end = writeFragments(this.#arena.bytes, 0, header, plan, chunks, segSize, sends, gso);
    }
    let datagrams = 0;
    for (let j = before; j < sends.length; j += 2) {
      this.#mm.set(j / 2, hop.saPtr, 16, this.#arena.base + BigInt(sends[j]), sends[j + 1]);
      datagrams += Math.ceil(sends[j + 1] / segSize);
    }
    this.#off = end;
    return datagrams;
  }

  /** Forgets everything queued (after an error left the queue in an unknown state). */
  reset(): void {
    this.#sends.length = 0;
    this.#off = 0;
  }

  /** Sends everything queued. */
  flush(): void {
    const n = this.#sends.length / 2;
    let first = 0;
    while (first < n) {
      const r = libc.sendmmsg(
        this.#o.udpFd,
        this.#mm.buffer.subarray(first * MMSGHDR),
        n - first,
        0,
      );
      if (r > 0) {
        first += r;
        continue;
      }
      const e = errno();
      if (e === EAGAIN) libc.poll(this.#pollOut, 1n, 50); // socket buffer full: wait for room
      else if (e !== EINTR) {
        // A message the kernel refuses (e.g. EMSGSIZE under a smaller path MTU) is dropped alone.
        this.#o.stats[STAT.txDropped]++;
        first++;
      }
    }
    this.#sends.length = 0;
    this.#off = 0;
  }
}
