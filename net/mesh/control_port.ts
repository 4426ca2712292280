/**
 * The control port's sockets: the listener and its accept loop, outbound dials, and the
 * handshake on each, with the gate in front of it (admission.ts admitSocket: the connection
 * limit, handshake slots per source and in all). What to dial and what to do with a finished
 * handshake are the router's decisions; this only does the I/O and reports.
 */
import { describeCause } from "../cause.ts";
import type { Logger } from "../log.ts";
import { admitSocket, type Limits, type RefusalKind } from "./admission.ts";
import type { FrameBudget } from "./codec.ts";
import { type ConnectionOptions, ControlConnection } from "./connection.ts";
import { HandshakeError } from "./handshake.ts";
import { parsePeerAddress } from "./peer_address.ts";
import type { ByteConn, ByteListener, Clock, Transport } from "./runtime.ts";

export interface ControlPortOptions {
  host: string;
  port: number;
  limits: Limits;
  dialTimeoutMs: number;
  budgets: { known: FrameBudget; unknown: FrameBudget };
  log: Logger;
  clock: Clock;
  transport: Transport;
  /**
   * The handshake options now (our identity carries the bound port) for a connection with
   * `remoteHost` (whether we trust it is said in the handshake: trust.ts).
   */
  connection(remoteHost: string): Omit<ConnectionOptions, "budgets">;
  /** Established connections (for the connection limit). */
  established(): number;
  /** The source is one of our targets' hosts (it may use the reserved handshake slots). */
  knownSource(host: string): boolean;
}

export interface ControlPortEvents {
  /** A handshake succeeded: `target` is the address dialled, null for an inbound connection. */
  handshaken(c: ControlConnection, target: string | null): void;
  /** A dial or its handshake failed. */
  dialFailed(address: string, reason: string, permanent: boolean): void;
  /** An inbound socket was refused or failed its handshake. */
  refused(kind: RefusalKind, reason: string, source: string, fields: Record<string, unknown>): void;
}

export class ControlPort {
  readonly #opts: ControlPortOptions;
  readonly #events: ControlPortEvents;
  readonly #handshaking = new Set<ByteConn>();
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #pendingBySource = new Map<string, number>();
  #inbound = 0;
  #listener: ByteListener | null = null;
  #closed = false;

  constructor(opts: ControlPortOptions, events: ControlPortEvents) {
    this.#opts = opts;
    this.#events = events;
  }

  /** Throws when the port cannot be bound. */
  listen(): void {
    this.#listener = this.#opts.transport.listen(this.#opts.host, this.#opts.port);
    this.#track(this.#acceptLoop(this.#listener));
  }

  get listening(): boolean {
    return this.#listener !== null;
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    return this.#listener?.port ?? this.#opts.port;
  }

  /** Outbound connections in their dial or handshake (they count against the limit). */
  get outboundPending(): number {
    return this.#handshaking.size - this.#inbound;
  }

  dial(address: string): void {
    const { host, port } = parsePeerAddress(address);
    this.#track((async () => {
      let conn: ByteConn;
      try {
        conn = await connectWithTimeout(this.#opts, host, port);
      } catch (e) {
        this.#opts.log.debug("dial failed", { address, reason: describeCause(e) });
        this.#events.dialFailed(address, describeCause(e), false);
        return;
      }
      if (this.#closed) return conn.close();
      await this.#handshake(conn, address);
    })());
  }

  /** Stops listening and dialling, closes sockets in their handshake, and waits for all of it. */
  async close(): Promise<void> {
    this.#closed = true;
    try {
      this.#listener?.close();
    } catch {
      // already closed
    }
    for (const c of this.#handshaking) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  #track(p: Promise<unknown>): void {
    this.#inflight.add(p);
    p.finally(() => this.#inflight.delete(p));
  }

  async #acceptLoop(listener: ByteListener): Promise<void> {
    while (!this.#closed) {
      let conn: ByteConn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (!this.#closed) this.#opts.log.error("accept failed", { error: describeCause(e) });
        return;
      }
      const host = conn.remoteAddr.hostname;
      const from = `${host}:${conn.remoteAddr.port}`;
      const d = admitSocket(
        {
          connections: this.#opts.established() + this.outboundPending,
          handshakes: this.#inbound,
          handshakesFromSource: this.#pendingBySource.get(host) ?? 0,
        },
        this.#opts.knownSource(host),
        this.#opts.limits,
      );
      if (!d.accept) {
        this.#events.refused(d.kind, d.reason, host, { from });
        conn.close();
        continue;
      }
      this.#track(this.#handshake(conn, null));
    }
  }

  async #handshake(conn: ByteConn, target: string | null): Promise<void> {
    const host = conn.remoteAddr.hostname;
    this.#handshaking.add(conn);
    if (target === null) {
      this.#inbound++;
      this.#pendingBySource.set(host, (this.#pendingBySource.get(host) ?? 0) + 1);
    }
    let c: ControlConnection;
    try {
      c = await ControlConnection.handshake(conn, target !== null, {
        ...this.#opts.connection(host),
        budgets: this.#opts.budgets,
        clock: this.#opts.clock,
      });
    } catch (e) {
      // Connection.open rejects with a HandshakeError; anything else is a failed handshake too.
      const err = e instanceof HandshakeError ? e : new HandshakeError(describeCause(e));
      if (target !== null) {
        const fields = { address: target, reason: err.message };
        if (err.permanent) this.#opts.log.warn("connection refused", fields);
        else this.#opts.log.info("handshake failed", fields);
        this.#events.dialFailed(target, err.message, err.permanent);
      } else {
        const from = `${host}:${conn.remoteAddr.port}`;
        this.#events.refused(err.refusal, err.message, host, { from, direction: "inbound" });
      }
      return;
    } finally {
      this.#handshaking.delete(conn);
      if (target === null) {
        this.#inbound--;
        const n = (this.#pendingBySource.get(host) ?? 1) - 1;
        if (n > 0) this.#pendingBySource.set(host, n);
        else this.#pendingBySource.delete(host);
      }
    }
    if (this.#closed) return c.close("shutting down");
    try {
      this.#events.handshaken(c, target);
    } catch (e) {
      // A bug in admission closes one connection, never the daemon.
      this.#opts.log.error("admitting a connection failed", {
        peer: c.remote.name,
        error: describeCause(e) ?? e,
      });
      c.close("internal error");
    }
  }
}

/** Dials with a time limit; a connection that completes after the limit is closed. */
function connectWithTimeout(
  o: { clock: Clock; transport: Transport; dialTimeoutMs: number },
  hostname: string,
  port: number,
): Promise<ByteConn> {
  const ms = o.dialTimeoutMs;
  const dial = o.transport.connect(hostname, port);
  let timer: unknown;
  const timeout = new Promise<never>((_, reject) => {
    timer = o.clock.setTimeout(() => {
      dial.then((c) => c.close(), () => {});
      reject(new Error(`dial timed out after ${ms} ms`));
    }, ms);
  });
  return Promise.race([dial, timeout]).finally(() => o.clock.clearTimeout(timer));
}
