/**
 * One control connection to another peer over TCP: the handshake (hellos, key exchange, the
 * client's sealed identity first, then the server's), then sealed frames with heartbeats both
 * ways. A connection that receives nothing for `deadMs`, does not finish a frame in time, or
 * sends anything malformed is closed.
 */
import { describeCause } from "../cause.ts";
import type { RefusalKind } from "./admission.ts";
import {
  CodecError,
  decodeMessage,
  encodeMessage,
  frame,
  type FrameBudget,
  FrameReader,
  type Identity,
  MAX_FRAME,
  MAX_HANDSHAKE_FRAME,
  MAX_UNKNOWN_FRAME,
  type Message,
  Tag,
} from "./codec.ts";
import { CryptoError, type Session, TAG_BYTES } from "./crypto.ts";
import type { DataKey } from "./gossip_channel.ts";
import { HandshakeError } from "./handshake.ts";
import { type HandshakeOptions, runHandshake } from "./handshake_io.ts";
import { livenessDue, livenessTickMs, partialSinceAfter } from "./liveness.ts";
import { type ByteConn, type Clock, SYSTEM_CLOCK } from "./runtime.ts";
import type { ConnectionTrust } from "./trust.ts";

export interface ConnectionTiming {
  /** How often a heartbeat is sent when nothing else is. */
  heartbeatMs: number;
  /** Silence after which the connection is declared dead. */
  deadMs: number;
  /** The peer's hello must arrive within this: a stalled socket holds a handshake slot no longer. */
  helloTimeoutMs: number;
  /** Limit for the whole handshake. */
  handshakeTimeoutMs: number;
}

export const DEFAULT_CONNECTION_TIMING: ConnectionTiming = {
  heartbeatMs: 2_000,
  // Three missed heartbeats; with the check every heartbeatMs/3, a dead peer is noticed in < 7 s.
  deadMs: 6_000,
  helloTimeoutMs: 2_000,
  handshakeTimeoutMs: 10_000,
};

export { MIN_FRAME_RATE } from "./liveness.ts";

export interface ConnectionOptions extends HandshakeOptions {
  timing: ConnectionTiming;
  /**
   * Shared by all connections: bytes held for incomplete frames, one budget for known peers and
   * one for the rest (strangers cannot starve the peers we know).
   */
  budgets?: { known: FrameBudget; unknown: FrameBudget };
  /** Bytes queued for sending beyond which the peer is too slow and is dropped. */
  maxQueuedBytes?: number;
  /** Default the system's (tests: a fake clock). */
  clock?: Clock;
}

export interface ConnectionHandlers {
  onMessage(m: Message, size: number): void;
  /** Called once, with why the connection ended (and the refusal kind when it is one). */
  onClose(reason: string, kind?: RefusalKind): void;
  /** Whether the peer is known here now: its frames may then be large (MAX_FRAME). */
  known(): boolean;
}

const READ_CHUNK = 64 * 1024;

export class ControlConnection {
  remote!: Identity;
  /** The peer's Ed25519 public key, proven by its signature over this handshake. */
  remoteKey!: Uint8Array;
  version!: number;
  /** Both halves of --trusted-subnets for this connection (trust.ts). */
  trust: ConnectionTrust = { trustRemote: false, trustedByRemote: false };
  #session!: Session;
  #frames: FrameReader;
  #early: Uint8Array[] = [];
  #handlers: ConnectionHandlers | null = null;
  #closed = false;
  #closeReason = "";
  #closeKind: RefusalKind | undefined;
  #writeChain: Promise<void> = Promise.resolve();
  #queued = 0;
  readonly #clock: Clock;
  #lastReceived: number;
  #lastSent: number;
  #partialSince: number | null = null;
  #timer: unknown = undefined;
  #identified = false;
  #finished!: () => void;
  /** Resolves once the connection is closed and its reader has stopped. */
  readonly finished = new Promise<void>((r) => (this.#finished = r));
  readonly #maxQueued: number;

  private constructor(
    readonly conn: ByteConn,
    readonly outbound: boolean,
    private readonly opts: ConnectionOptions,
  ) {
    this.#clock = opts.clock ?? SYSTEM_CLOCK;
    this.#lastReceived = this.#lastSent = this.#clock.now();
    this.#frames = new FrameReader(
      () => this.#frameLimit(),
      opts.budgets &&
        (() => (this.#identified && this.#handlers?.known()
          ? opts.budgets!.known
          : opts.budgets!.unknown)),
    );
    this.#maxQueued = opts.maxQueuedBytes ?? 4 * MAX_FRAME;
  }

  get remoteAddr(): { hostname: string; port: number } {
    return this.conn.remoteAddr;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** This connection's data-path secret (both ends hold the same one). */
  get dataKey(): DataKey {
    return this.#session.dataKey;
  }

  /**
   * Runs the handshake on a fresh TCP connection. Resolves with an established connection (not yet
   * reading: call `start`), or rejects with a HandshakeError saying why, the socket closed.
   */
  static async handshake(
    conn: ByteConn,
    outbound: boolean,
    opts: ConnectionOptions,
  ): Promise<ControlConnection> {
    const c = new ControlConnection(conn, outbound, opts);
    const clock = c.#clock;
    const late: { what: string | null } = { what: null };
    const expire = (what: string) => () => {
      late.what = what;
      c.#shut();
    };
    let helloTimer: unknown = clock.setTimeout(
      expire(`no hello within ${opts.timing.helloTimeoutMs} ms`),
      opts.timing.helloTimeoutMs,
    );
    const timer = clock.setTimeout(
      expire(`handshake not done within ${opts.timing.handshakeTimeoutMs} ms`),
      opts.timing.handshakeTimeoutMs,
    );
    try {
      const r = await runHandshake(
        {
          write: (b) => c.#write(b),
          read: () => c.#read(),
          frames: c.#frames,
        },
        outbound,
        opts,
        () => {
          clock.clearTimeout(helloTimer);
          helloTimer = undefined;
        },
      );
      c.version = r.version;
      c.#session = r.session;
      c.remote = r.remote;
      c.remoteKey = r.remoteKey;
      c.trust = { trustRemote: opts.trustRemote === true, trustedByRemote: r.trustedByRemote };
      c.#early = r.early;
      c.#identified = true;
      return c;
    } catch (e) {
      c.#shut();
      if (late.what !== null) throw new HandshakeError(late.what, false, "handshake-timeout");
      if (e instanceof HandshakeError) throw e;
      throw new HandshakeError(
        describe(e),
        false,
        e instanceof CodecError && e.refusal ? e.refusal : "handshake-failed",
      );
    } finally {
      clock.clearTimeout(helloTimer);
      clock.clearTimeout(timer);
    }
  }

  /** Starts reading messages and heartbeats. Frames that arrived with the identity come first. */
  start(handlers: ConnectionHandlers): void {
    this.#handlers = handlers;
    this.#lastReceived = this.#clock.now();
    this.#timer = this.#clock.setInterval(() => this.#onTick(), livenessTickMs(this.opts.timing));
    const early = this.#early;
    this.#early = [];
    try {
      for (const f of early) this.#deliver(f);
    } catch (e) {
      this.#fail(e);
      this.#shut();
      this.#finished();
      handlers.onClose(this.#closeReason, this.#closeKind);
      return;
    }
    this.#readLoop();
  }

  /** Sends a message (plaintext, sealed here); false when closed or too far behind. */
  send(message: Uint8Array): boolean {
    if (this.#closed) return false;
    if (this.#queued > this.#maxQueued) {
      this.close("send queue overflow: the peer is not keeping up");
      return false;
    }
    this.#sendNow(message);
    return true;
  }

  close(reason: string, kind?: RefusalKind): void {
    if (this.#closed) return;
    this.#closeReason = reason;
    this.#closeKind = kind;
    this.#shut();
  }

  #shut(): void {
    if (!this.#closed) {
      this.#closed = true;
      this.#clock.clearInterval(this.#timer);
      this.#frames.release();
      try {
        this.conn.close();
      } catch {
        // already closed by the peer
      }
      if (!this.#handlers) this.#finished();
    }
  }

  #frameLimit(): number {
    if (!this.#identified) return MAX_HANDSHAKE_FRAME;
    return (this.#handlers?.known() ? MAX_FRAME : MAX_UNKNOWN_FRAME) + TAG_BYTES;
  }

  async #readLoop(): Promise<void> {
    let reason = "connection closed by the peer";
    try {
      while (!this.#closed) {
        const chunk = await this.#read();
        if (chunk === null) break;
        this.#lastReceived = this.#clock.now();
        const frames = this.#frames.push(chunk);
        this.#partialSince = partialSinceAfter(
          this.#partialSince,
          this.#lastReceived,
          this.#frames.pending !== 0,
          frames.length,
        );
        for (const f of frames) this.#deliver(f);
      }
    } catch (e) {
      reason = this.#fail(e);
    }
    if (this.#closeReason === "") this.#closeReason = reason;
    this.#shut();
    this.#finished();
    this.#handlers?.onClose(this.#closeReason, this.#closeKind);
  }

  /** Records why the connection fails; returns the reason. */
  #fail(e: unknown): string {
    if (this.#closeReason === "") {
      this.#closeReason = describe(e);
      if (e instanceof CodecError) this.#closeKind = e.refusal;
    }
    return this.#closeReason;
  }

  #deliver(f: Uint8Array): void {
    if (this.#closed) return;
    const m = decodeMessage(this.#session.opener.open(f));
    if (m.tag === Tag.identity) throw new CodecError("identity sent twice");
    if (m.tag === Tag.rekey) return this.#session.opener.rekey();
    if (m.tag === Tag.heartbeat) return;
    this.#handlers!.onMessage(m, f.length);
  }

  #onTick(): void {
    const due = livenessDue(
      {
        lastReceived: this.#lastReceived,
        lastSent: this.#lastSent,
        partialSince: this.#partialSince,
        pendingLength: this.#frames.pendingLength,
      },
      this.#clock.now(),
      this.opts.timing,
    );
    if (due.kind === "close") this.close(due.reason, due.refusal);
    else if (due.kind === "heartbeat") this.#sendNow(encodeMessage({ tag: Tag.heartbeat }));
  }

  #sendNow(plain: Uint8Array): void {
    const now = this.#clock.now();
    const sealer = this.#session.sealer;
    if (sealer.rekeyDue(now)) {
      const rekey = sealer.seal(encodeMessage({ tag: Tag.rekey }));
      sealer.rekey(now);
      void this.#write(frame(rekey)).catch(() => this.#shut());
    }
    this.#lastSent = now;
    void this.#write(frame(sealer.seal(plain))).catch(() => this.#shut());
  }

  #write(bytes: Uint8Array): Promise<void> {
    this.#queued += bytes.length;
    const p = this.#writeChain.then(async () => {
      try {
        for (let o = 0; o < bytes.length;) o += await this.conn.write(bytes.subarray(o));
      } finally {
        this.#queued -= bytes.length;
      }
    });
    this.#writeChain = p.catch(() => {});
    return p;
  }

  async #read(): Promise<Uint8Array | null> {
    if (this.#closed) return null;
    const buf = new Uint8Array(READ_CHUNK);
    let n: number | null;
    try {
      n = await this.conn.read(buf);
    } catch (e) {
      if (this.#closed) return null;
      throw e;
    }
    return n === null ? null : buf.subarray(0, n);
  }
}

function describe(e: unknown): string {
  if (e instanceof CodecError) return `bad message: ${e.message}`;
  if (e instanceof CryptoError) return `bad message: ${e.message}`;
  return describeCause(e) ?? String(e);
}
