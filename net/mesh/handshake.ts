/**
 * The connection handshake. Pure: no I/O.
 *
 * Both sides send a hello at once: the magic "weavets", the lowest and highest protocol versions
 * they speak, a flags byte (bit 0: a password is set) and, with a password, a fresh X25519 public
 * key. The highest common version wins. Then each side sends its identity as the first frame
 * (sealed when a password is set); the connection is established when both identities arrive.
 */
import { PUBLIC_KEY_BYTES } from "./crypto.ts";

export const MAGIC = new TextEncoder().encode("weavets");
export const PROTOCOL_MIN = 1;
export const PROTOCOL_MAX = 1;
export const HELLO_BYTES = MAGIC.length + 3;

export interface Hello {
  minVersion: number;
  maxVersion: number;
  /** Present exactly when the sender has a password. */
  publicKey?: Uint8Array;
}

export class HandshakeError extends Error {
  override name = "HandshakeError";
  /** True when retrying cannot help until someone changes configuration. */
  constructor(message: string, readonly permanent = false) {
    super(message);
  }
}

export function encodeHello(h: Hello): Uint8Array {
  const out = new Uint8Array(HELLO_BYTES + (h.publicKey ? PUBLIC_KEY_BYTES : 0));
  out.set(MAGIC);
  out[MAGIC.length] = h.minVersion;
  out[MAGIC.length + 1] = h.maxVersion;
  out[MAGIC.length + 2] = h.publicKey ? 1 : 0;
  if (h.publicKey) out.set(h.publicKey, HELLO_BYTES);
  return out;
}

/**
 * How many more bytes the hello in `b` needs (0 when complete). Throws on a wrong magic as soon
 * as the first bytes show it, so a stray client is turned away without waiting.
 */
export function helloBytesNeeded(b: Uint8Array): number {
  for (let i = 0; i < Math.min(b.length, MAGIC.length); i++) {
    if (b[i] !== MAGIC[i]) throw new HandshakeError("not a weavets peer (bad protocol magic)");
  }
  if (b.length < HELLO_BYTES) return HELLO_BYTES - b.length;
  const flags = b[MAGIC.length + 2];
  if (flags & ~1) throw new HandshakeError(`unknown handshake flags ${flags}`);
  const want = HELLO_BYTES + (flags & 1 ? PUBLIC_KEY_BYTES : 0);
  return Math.max(0, want - b.length);
}

/** The length of the hello at the start of `b` (call once helloBytesNeeded(b) is 0). */
export function helloLength(b: Uint8Array): number {
  return HELLO_BYTES + (b[MAGIC.length + 2] & 1 ? PUBLIC_KEY_BYTES : 0);
}

export function decodeHello(b: Uint8Array): Hello {
  if (helloBytesNeeded(b) !== 0) throw new HandshakeError("truncated hello");
  const minVersion = b[MAGIC.length], maxVersion = b[MAGIC.length + 1];
  if (minVersion > maxVersion) {
    throw new HandshakeError(`bad version range ${minVersion}..${maxVersion}`);
  }
  const encrypted = (b[MAGIC.length + 2] & 1) === 1;
  if (b.length !== HELLO_BYTES + (encrypted ? PUBLIC_KEY_BYTES : 0)) {
    throw new HandshakeError("hello has trailing bytes");
  }
  return {
    minVersion,
    maxVersion,
    publicKey: encrypted ? b.slice(HELLO_BYTES) : undefined,
  };
}

/** The highest version both speak. */
export function negotiateVersion(local: Hello, remote: Hello): number {
  const v = Math.min(local.maxVersion, remote.maxVersion);
  if (v < Math.max(local.minVersion, remote.minVersion)) {
    throw new HandshakeError(
      `no common protocol version: we speak ${local.minVersion}..${local.maxVersion}, ` +
        `the peer ${remote.minVersion}..${remote.maxVersion}`,
      true,
    );
  }
  return v;
}

export type Step<I> =
  | { state: "await-hello" }
  | { state: "await-identity"; version: number; remoteKey?: Uint8Array }
  | { state: "established"; version: number; identity: I }
  | { state: "refused"; reason: string; permanent: boolean };

/**
 * The handshake as a state machine over received items: a hello, then an identity. The I/O layer
 * feeds it and acts on the resulting state; any step out of order refuses the connection.
 */
export class Handshake<I> {
  #step: Step<I> = { state: "await-hello" };
  constructor(readonly local: Hello) {}

  get step(): Step<I> {
    return this.#step;
  }

  receiveHello(remote: Hello): Step<I> {
    if (this.#step.state !== "await-hello") return this.#refuse("hello received twice", false);
    let version: number;
    try {
      version = negotiateVersion(this.local, remote);
    } catch (e) {
      return this.#refuse((e as Error).message, true);
    }
    if (this.local.publicKey && !remote.publicKey) {
      return this.#refuse("the peer has no password but this peer requires one", true);
    }
    if (!this.local.publicKey && remote.publicKey) {
      return this.#refuse("the peer uses a password but none is set on this peer", true);
    }
    return (this.#step = { state: "await-identity", version, remoteKey: remote.publicKey });
  }

  receiveIdentity(identity: I): Step<I> {
    if (this.#step.state !== "await-identity") {
      return this.#refuse("identity received before the hello", false);
    }
    return (this.#step = { state: "established", version: this.#step.version, identity });
  }

  #refuse(reason: string, permanent: boolean): Step<I> {
    if (this.#step.state === "refused") return this.#step;
    return (this.#step = { state: "refused", reason, permanent });
  }
}
