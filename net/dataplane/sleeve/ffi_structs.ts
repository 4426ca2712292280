/**
 * Arrays of struct mmsghdr/iovec for sendmmsg/recvmmsg, laid out in one large off-heap buffer
 * whose address is stable. Every buffer whose address goes into these structs must stay referenced
 * from JS while the kernel may use it (deno-linux.md: the iovec GC trap), so `Arena` keeps them.
 */

export const MMSGHDR = 64;
const IOVEC = 16;

/** A big buffer and its base address, referenced for the Worker's lifetime. */
export class Arena {
  readonly bytes: Uint8Array;
  readonly base: bigint;
  constructor(size: number) {
    this.bytes = new Uint8Array(new ArrayBuffer(Math.max(size, 4096)));
    this.base = Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.bytes));
  }
}

/** n mmsghdrs, each with one iovec; names (sockaddr) and data point into caller arenas. */
export class MmsgArray {
  readonly arena: Arena;
  readonly #u64: BigUint64Array;
  readonly #dv: DataView;

  constructor(readonly n: number) {
    this.arena = new Arena(n * (MMSGHDR + IOVEC));
    this.#u64 = new BigUint64Array(this.arena.bytes.buffer);
    this.#dv = new DataView(this.arena.bytes.buffer);
    for (let i = 0; i < n; i++) {
      const m = (i * MMSGHDR) / 8;
      this.#u64[m + 2] = this.arena.base + BigInt(n * MMSGHDR + i * IOVEC); // msg_iov
      this.#u64[m + 3] = 1n; // msg_iovlen
    }
  }

  get buffer(): Uint8Array {
    return this.arena.bytes;
  }

  /** Sets entry i: destination (0n for none), data pointer and length. */
  set(i: number, name: bigint, nameLen: number, data: bigint, len: number): void {
    const m = (i * MMSGHDR) / 8;
    this.#u64[m] = name;
    this.#dv.setUint32(i * MMSGHDR + 8, nameLen, true);
    const v = (this.n * MMSGHDR + i * IOVEC) / 8;
    this.#u64[v] = data;
    this.#u64[v + 1] = BigInt(len);
  }

  /** msg_len of entry i after recvmmsg. */
  received(i: number): number {
    return this.#dv.getUint32(i * MMSGHDR + 56, true);
  }
}
