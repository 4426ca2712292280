/**
 * What the mesh's I/O takes from the world: a clock with timers, and a byte-stream transport.
 * The daemon uses the system's (SYSTEM_CLOCK, TCP); tests pass a fake clock and an in-memory
 * network (testing/fake_clock.ts, testing/memory_net.ts), so the whole conductor (router,
 * control port, connections) runs deterministically on virtual time, without sockets.
 */

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as number),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as number),
};

/** The part of Deno.TcpConn the mesh uses. */
export interface ByteConn {
  readonly remoteAddr: { hostname: string; port: number };
  /** Bytes read into `p`; null once the peer closed. */
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

export interface ByteListener {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  accept(): Promise<ByteConn>;
  close(): void;
}

export interface Transport {
  /** Throws when the port cannot be bound. */
  listen(hostname: string, port: number): ByteListener;
  connect(hostname: string, port: number): Promise<ByteConn>;
}

export const TCP: Transport = {
  listen(hostname, port) {
    const l = Deno.listen({ hostname, port });
    return {
      port: l.addr.port,
      accept: () => l.accept(),
      close: () => l.close(),
    };
  },
  connect: (hostname, port) => Deno.connect({ hostname, port }),
};

/** A mesh's runtime with the system's defaults filled in. */
export interface MeshRuntime {
  clock: Clock;
  transport: Transport;
  /** Returns [0, 1): jitter. */
  random: () => number;
}

export function meshRuntime(
  r: { clock?: Clock; transport?: Transport; random?: () => number } = {},
): MeshRuntime {
  return { clock: SYSTEM_CLOCK, transport: TCP, random: Math.random, ...r };
}
