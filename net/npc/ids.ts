/**
 * Small numbers handed out and taken back: the first free one in the allocator's order first,
 * and a number given back becomes free only at settle(), so within one compile a number never
 * means two things (the kernel sees a number's old and new meaning only in different
 * transactions).
 */
export class IdAllocator {
  /** How many numbers were ever handed out: the next new one is order(#next). */
  #next = 0;
  /** Free positions in the order, ascending. */
  #free: number[] = [];
  #released: number[] = [];
  readonly #position = new Map<number, number>();

  /**
   * @param max how many numbers there are
   * @param order the n-th number to hand out (n from 0); default 1, 2, 3…
   */
  constructor(readonly max: number, readonly order: (n: number) => number = (n) => n + 1) {}

  /** A free number; RangeError when all `max` are taken. */
  take(): number {
    const pos = this.#free.length > 0 ? this.#free.shift()! : this.#next++;
    if (pos >= this.max) {
      this.#next--;
      throw new RangeError(`more than ${this.max} numbers in use`);
    }
    const id = this.order(pos);
    this.#position.set(id, pos);
    return id;
  }

  release(id: number): void {
    this.#released.push(this.#position.get(id)!);
  }

  settle(): void {
    if (this.#released.length === 0) return;
    this.#free.push(...this.#released);
    this.#released = [];
    this.#free.sort((a, b) => a - b);
  }
}
