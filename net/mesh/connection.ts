/**
 * One control connection to another peer over TCP: the handshake (hello, key exchange, identity),
 * then framed messages, sealed when a password is set, with heartbeats both ways. A connection that
 * receives nothing for `deadMs` is closed; so is one that sends anything malformed.
 */
import {
  CodecError,
  decodeMessage,
  encodeMessage,
  frame,
  FrameReader,
  type Identity,
  MAX_FRAME,
  MAX_HANDSHAKE_FRAME,
  type Message,
  Tag,
} from "./codec.ts";
import { CryptoError, deriveSession, generateKeyPair, type Session, TAG_BYTES } from "./crypto.ts";
import type { DataKey } from "./gossip_channel.ts";
import {
  decodeHello,
  encodeHello,
  Handshake,
  HandshakeError,
  type Hello,
  helloBytesNeeded,
  helloLength,
  PROTOCOL_MAX,
  PROTOCOL_MIN,
} from "./handshake.ts";

export interface ConnectionTiming {
  /** How often a heartbeat is sent when nothing else is. */
  heartbeatMs: number;
  /** Silence after which the connection is declared dead. */
  deadMs: number;
  /** Limit for the whole handshake. */
  handshakeTimeoutMs: number;
}

export const DEFAULT_CONNECTION_TIMING: ConnectionTiming = {
  heartbeatMs: 2_000,
  // Three missed heartbeats; with the check every heartbeatMs/3, a dead peer is noticed in < 7 s.
  deadMs: 6_000,
  handshakeTimeoutMs: 10_000,
};

export interface ConnectionOptions {
  self: Identity;
  password: string | null;
  timing: ConnectionTiming;
  /** Bytes queued for sending beyond which the peer is too slow and is dropped. */
  maxQueuedBytes?: number;
}

export interface ConnectionHandlers {
  onMessage(m: Message, size: number): void;
  /** Called once, with why the connection ended. */
  onClose(reason: string): void;
}

const READ_CHUNK = 64 * 1024;

export class ControlConnection {
  readonly encrypted: boolean;
  remote!: Identity;
  version!: number;
  #session: Session | null = null;
  #frames: FrameReader;
  #early: Uint8Array[] = [];
  #handlers: ConnectionHandlers | null = null;
  #closed = false;
  #closeReason = "";
  #writeChain: Promise<void> = Promise.resolve();
  #queued = 0;
  #lastReceived = Date.now();
  #lastSent = Date.now();
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #maxQueued: number;

  private constructor(
    readonly conn: Deno.TcpConn,
    readonly outbound: boolean,
    private readonly opts: ConnectionOptions,
  ) {
    this.encrypted = opts.password !== null;
    this.#frames = new FrameReader(MAX_HANDSHAKE_FRAME);
    this.#maxQueued = opts.maxQueuedBytes ?? 4 * MAX_FRAME;
  }

  get remoteAddr(): Deno.NetAddr {
    return this.conn.remoteAddr;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** This connection's data-path secret (with a password; both ends hold the same one). */
  get dataKey(): DataKey | undefined {
    return this.#session?.dataKey;
  }

  /**
   * Runs the handshake on a fresh TCP connection. Resolves with an established connection (not yet
   * reading: call `start`), or rejects with a HandshakeError saying why, the socket closed.
   */
  static async handshake(
    conn: Deno.TcpConn,
    outbound: boolean,
    opts: ConnectionOptions,
  ): Promise<ControlConnection> {
    const c = new ControlConnection(conn, outbound, opts);
    const timer = setTimeout(() => c.#shut(), opts.timing.handshakeTimeoutMs);
    try {
      await c.#handshake();
      return c;
    } catch (e) {
      c.#shut();
      if (e instanceof HandshakeError) throw e;
      if (c.#closed && !(e instanceof CodecError)) {
        throw new HandshakeError("handshake timed out or the peer closed the connection");
      }
      throw new HandshakeError((e as Error).message);
    } finally {
      clearTimeout(timer);
    }
  }

  async #handshake(): Promise<void> {
    const keys = this.opts.password !== null ? generateKeyPair() : null;
    const local: Hello = {
      minVersion: PROTOCOL_MIN,
      maxVersion: PROTOCOL_MAX,
      publicKey: keys?.publicKey,
    };
    const hs = new Handshake<Identity>(local);
    await this.#write(encodeHello(local));

    let buf: Uint8Array = new Uint8Array(0);
    for (let need = helloBytesNeeded(buf); need > 0; need = helloBytesNeeded(buf)) {
      const chunk = await this.#read();
      if (chunk === null) {
        throw new HandshakeError("the peer closed the connection during the handshake");
      }
      buf = concat(buf, chunk);
    }
    // Anything after the hello is already framed data.
    const helloEnd = helloLength(buf);
    const step = hs.receiveHello(decodeHello(buf.subarray(0, helloEnd)));
    if (step.state === "refused") throw new HandshakeError(step.reason, step.permanent);
    if (step.state !== "await-identity") throw new HandshakeError("handshake out of order");
    this.version = step.version;
    if (keys && step.remoteKey) {
      try {
        this.#session = deriveSession(keys, step.remoteKey, this.opts.password!);
      } catch (e) {
        throw new HandshakeError((e as Error).message);
      }
    }
    this.#sendNow(encodeMessage({ tag: Tag.identity, identity: this.opts.self }));

    const pending = this.#frames.push(buf.subarray(helloEnd));
    while (pending.length === 0) {
      const chunk = await this.#read();
      if (chunk === null) {
        throw new HandshakeError(
          this.encrypted
            ? "the peer closed the connection before identifying itself (wrong password?)"
            : "the peer closed the connection before identifying itself",
          this.encrypted,
        );
      }
      pending.push(...this.#frames.push(chunk));
    }
    let first: Message;
    try {
      first = decodeMessage(this.#open(pending.shift()!));
    } catch (e) {
      if (e instanceof CryptoError) {
        throw new HandshakeError(
          "authentication failed: the peer does not have our password",
          true,
        );
      }
      throw new HandshakeError(`bad identity: ${(e as Error).message}`);
    }
    if (first.tag !== Tag.identity) {
      throw new HandshakeError("the peer did not identify itself first");
    }
    const done = hs.receiveIdentity(first.identity);
    if (done.state !== "established") throw new HandshakeError("handshake out of order");
    this.remote = first.identity;
    this.#frames.maxFrame = MAX_FRAME + TAG_BYTES;
    this.#early = pending;
  }

  /** Starts reading messages and heartbeats. Frames that arrived with the identity come first. */
  start(handlers: ConnectionHandlers): void {
    this.#handlers = handlers;
    this.#lastReceived = Date.now();
    const tick = Math.max(50, Math.min(this.opts.timing.heartbeatMs, this.opts.timing.deadMs) / 3);
    this.#timer = setInterval(() => this.#onTick(), tick);
    const early = this.#early;
    this.#early = [];
    try {
      for (const f of early) this.#deliver(f);
    } catch (e) {
      this.close(describe(e));
      handlers.onClose(this.#closeReason);
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

  close(reason: string): void {
    if (this.#closed) return;
    this.#closeReason = reason;
    this.#shut();
  }

  #shut(): void {
    if (!this.#closed) {
      this.#closed = true;
      clearInterval(this.#timer);
      try {
        this.conn.close();
      } catch {
        // already closed by the peer
      }
    }
  }

  async #readLoop(): Promise<void> {
    let reason = "connection closed by the peer";
    try {
      while (!this.#closed) {
        const chunk = await this.#read();
        if (chunk === null) break;
        this.#lastReceived = Date.now();
        for (const f of this.#frames.push(chunk)) this.#deliver(f);
      }
    } catch (e) {
      reason = describe(e);
    }
    if (this.#closeReason === "") this.#closeReason = reason;
    this.#shut();
    this.#handlers?.onClose(this.#closeReason);
  }

  #deliver(f: Uint8Array): void {
    if (this.#closed) return;
    const m = decodeMessage(this.#open(f));
    if (m.tag === Tag.identity) throw new CodecError("identity sent twice");
    if (m.tag === Tag.heartbeat) return;
    this.#handlers!.onMessage(m, f.length);
  }

  #onTick(): void {
    const now = Date.now();
    if (now - this.#lastReceived > this.opts.timing.deadMs) {
      this.close(`no message for ${this.opts.timing.deadMs} ms: connection dead`);
      return;
    }
    if (now - this.#lastSent >= this.opts.timing.heartbeatMs) {
      this.#sendNow(encodeMessage({ tag: Tag.heartbeat }));
    }
  }

  #open(f: Uint8Array): Uint8Array {
    return this.#session ? this.#session.opener.open(f) : f;
  }

  #sendNow(plain: Uint8Array): void {
    const body = this.#session ? this.#session.sealer.seal(plain) : plain;
    this.#lastSent = Date.now();
    void this.#write(frame(body)).catch(() => this.#shut());
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
  return (e as Error).message ?? String(e);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
