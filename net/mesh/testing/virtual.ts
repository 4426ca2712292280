/**
 * TEST DOUBLE: a mesh runtime on virtual time (runtime.ts): a fake clock whose timers run only
 * when the test advances it, and an in-memory network of byte pipes between virtual hosts. The
 * mesh's I/O code runs unchanged on it; with everything else promise-driven (the crypto is
 * synchronous), a run is deterministic: the same script gives the same events at the same
 * virtual milliseconds, however loaded the machine.
 */
import type { ByteConn, ByteListener, Clock, MeshRuntime, Transport } from "../runtime.ts";

interface Timer {
  id: number;
  at: number;
  fn: () => void;
  every: number | null;
}

/** Lets every pending promise reaction run (a real macrotask: the microtask queue drains). */
export function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}

export class VirtualClock implements Clock {
  #now: number;
  #next = 1;
  readonly #timers = new Map<number, Timer>();

  constructor(start = 1_000_000) {
    this.#now = start;
  }

  now = (): number => this.#now;

  setTimeout = (fn: () => void, ms: number): unknown => this.#add(fn, ms, null);
  setInterval = (fn: () => void, ms: number): unknown => this.#add(fn, ms, Math.max(1, ms));
  clearTimeout = (h: unknown): void => void this.#timers.delete(h as number);
  clearInterval = (h: unknown): void => void this.#timers.delete(h as number);

  /** Timers pending (a stopped mesh leaves none). */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Moves time forward by `ms`, running every timer due on the way in order (equal times in the
   * order they were set), with all promise reactions settled after each.
   */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    for (;;) {
      let first: Timer | undefined;
      for (const t of this.#timers.values()) {
        if (t.at <= end && (!first || t.at < first.at)) first = t;
      }
      if (!first) break;
      this.#now = Math.max(this.#now, first.at);
      if (first.every === null) this.#timers.delete(first.id);
      else first.at += first.every;
      first.fn();
      await settle();
    }
    this.#now = end;
    await settle();
  }

  /** Advances in steps of `stepMs` until `cond` holds; throws after `limitMs` of virtual time. */
  async until(what: string, cond: () => boolean, limitMs = 60_000, stepMs = 10): Promise<number> {
    const t0 = this.#now;
    while (!cond()) {
      if (this.#now - t0 >= limitMs) throw new Error(`${what}: not within ${limitMs} ms`);
      await this.advance(stepMs);
    }
    return this.#now - t0;
  }

  #add(fn: () => void, ms: number, every: number | null): number {
    const id = this.#next++;
    this.#timers.set(id, { id, at: this.#now + Math.max(0, ms), fn, every });
    return id;
  }
}

/** One direction of a connection: chunks written, waiting to be read. */
class Pipe {
  readonly chunks: Uint8Array[] = [];
  closed = false;
  #wake: (() => void) | null = null;

  push(b: Uint8Array): void {
    this.chunks.push(b.slice());
    this.notify();
  }

  notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  wait(): Promise<void> {
    return new Promise((r) => (this.#wake = r));
  }
}

class MemoryConn implements ByteConn {
  #closed = false;
  constructor(
    readonly remoteAddr: { hostname: string; port: number },
    private readonly inbox: Pipe,
    private readonly outbox: Pipe,
    /** The network between the two hosts is cut: what is written is lost. */
    private readonly cut: () => boolean,
  ) {}

  async read(p: Uint8Array): Promise<number | null> {
    for (;;) {
      if (this.#closed) throw new Error("read on a closed connection");
      const c = this.inbox.chunks[0];
      if (c) {
        const n = Math.min(p.length, c.length);
        p.set(c.subarray(0, n));
        if (n === c.length) this.inbox.chunks.shift();
        else this.inbox.chunks[0] = c.subarray(n);
        return n;
      }
      if (this.inbox.closed) return null;
      await this.inbox.wait();
    }
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#closed || this.outbox.closed) {
      return Promise.reject(new Error("connection reset by peer"));
    }
    if (!this.cut()) this.outbox.push(p);
    return Promise.resolve(p.length);
  }

  close(): void {
    if (this.#closed) throw new Error("already closed");
    this.#closed = true;
    // The peer reads what was sent, then the end; this end's pending read stops.
    this.outbox.closed = true;
    this.outbox.notify();
    this.inbox.closed = true;
    this.inbox.notify();
  }
}

class MemoryListener implements ByteListener {
  readonly #queue: ByteConn[] = [];
  #wake: (() => void) | null = null;
  closed = false;
  constructor(readonly port: number, private readonly onClose: () => void) {}

  offer(c: ByteConn): void {
    this.#queue.push(c);
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  async accept(): Promise<ByteConn> {
    for (;;) {
      if (this.closed) throw new Error("listener closed");
      const c = this.#queue.shift();
      if (c) return c;
      await new Promise<void>((r) => (this.#wake = r));
    }
  }

  close(): void {
    this.closed = true;
    this.onClose();
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }
}

/** Virtual hosts that reach each other: `host(ip)` is the transport of a process on `ip`. */
export class MemoryNetwork {
  readonly #listeners = new Map<string, MemoryListener>();
  readonly #cuts = new Set<string>();
  #ephemeral = 40_000;
  /** Connections attempted: when (virtual ms), from and to. */
  readonly dials: Array<{ at: number; from: string; to: string }> = [];

  constructor(private readonly clock: Clock) {}

  /**
   * From now on, bytes between hosts `a` and `b` are lost (both ways) and dials between them go
   * unanswered, until `heal`.
   */
  cut(a: string, b: string): void {
    this.#cuts.add([a, b].sort().join(" "));
  }

  heal(a: string, b: string): void {
    this.#cuts.delete([a, b].sort().join(" "));
  }

  host(ip: string): Transport {
    return {
      listen: (hostname, port) => {
        const p = port === 0 ? this.#ephemeral++ : port;
        const key = `${hostname}:${p}`;
        if (this.#listeners.has(key)) throw new Error(`${key}: address in use`);
        const l = new MemoryListener(p, () => this.#listeners.delete(key));
        this.#listeners.set(key, l);
        return l;
      },
      connect: (hostname, port) => {
        const key = `${hostname}:${port}`;
        this.dials.push({ at: this.clock.now(), from: ip, to: key });
        const l = this.#listeners.get(key);
        if (!l) return Promise.reject(new Error(`${key}: connection refused`));
        // Across a cut, a dial goes unanswered (as a SYN that is lost): its own timeout ends it.
        if (this.#cuts.has([ip, hostname].sort().join(" "))) return new Promise(() => {});
        const up = new Pipe(), down = new Pipe();
        const cut = () => this.#cuts.has([ip, hostname].sort().join(" "));
        const client = new MemoryConn({ hostname, port }, down, up, cut);
        l.offer(new MemoryConn({ hostname: ip, port: this.#ephemeral++ }, up, down, cut));
        return Promise.resolve(client);
      },
    };
  }
}

/** A mesh runtime on `ip` of `net`, on `clock`, with fixed randomness (no jitter). */
export function virtualRuntime(
  clock: VirtualClock,
  net: MemoryNetwork,
  ip: string,
  random: () => number = () => 0.5,
): MeshRuntime {
  return { clock, transport: net.host(ip), random };
}
