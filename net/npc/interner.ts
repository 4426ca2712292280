/**
 * Stable small numbers for keys across compiles: a key keeps its number while it is in use, and a
 * number freed by an unused key is handed out again (smallest first). Stable numbers keep the
 * difference between two compiled states, and so each nftables transaction, small.
 */
export class Interner {
  readonly #ids = new Map<string, number>();
  #used = new Set<string>();
  /** Freed numbers, ascending. */
  #free: number[] = [];
  #next = 1;

  constructor(readonly max: number) {}

  /** Starts a round: keys not asked for before end() lose their numbers. */
  begin(): void {
    this.#used = new Set();
  }

  /** The number of `key`, allocated if new; undefined when all `max` numbers are taken. */
  id(key: string): number | undefined {
    this.#used.add(key);
    const known = this.#ids.get(key);
    if (known !== undefined) return known;
    const id = this.#free.length > 0 ? this.#free.shift()! : this.#next++;
    if (id > this.max) {
      this.#next--;
      this.#used.delete(key);
      return undefined;
    }
    this.#ids.set(key, id);
    return id;
  }

  end(): void {
    for (const [key, id] of this.#ids) {
      if (!this.#used.has(key)) {
        this.#ids.delete(key);
        this.#free.push(id);
      }
    }
    this.#free.sort((a, b) => a - b);
  }

  get size(): number {
    return this.#ids.size;
  }
}
