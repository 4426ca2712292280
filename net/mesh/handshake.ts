/**
 * The connection handshake (docs/PROTOCOL.md §1-2). Pure: no I/O.
 *
 * Both sides send a hello at once: the magic "weavets", the lowest and highest protocol versions
 * they speak, a flags byte (bit 0: a secret is set) and a fresh X25519 public key. The highest
 * common version wins. Then the client (the side that dialled) sends its sealed identity; the
 * server sends its own only after it has opened and checked the client's, so a stranger learns
 * nothing sealed under the secret without first proving it knows it.
 */
import { describeCause } from "../cause.ts";
import { WeavetsError } from "../errors.ts";
import { PUBLIC_KEY_BYTES } from "./crypto.ts";

export const MAGIC = new TextEncoder().encode("weavets");
/** Version 2: scrypt, transcript-bound keys, client proves first, signed identities. */
export const PROTOCOL_MIN = 2;
export const PROTOCOL_MAX = 2;
/** The fixed part of a hello (magic, versions, flags); a version ≥ 2 hello adds the key. */
export const HELLO_HEAD_BYTES = MAGIC.length + 3;
export const HELLO_BYTES = HELLO_HEAD_BYTES + PUBLIC_KEY_BYTES;

export interface Hello {
  minVersion: number;
  maxVersion: number;
  /** A secret (password or cluster secret) is set. */
  authenticated: boolean;
  /** Absent only in a version 1 hello without a password (decoded to tell its sender to upgrade). */
  publicKey?: Uint8Array;
}

/** The refusal kinds a handshake can end in (admission.ts RefusalKind). */
export type HandshakeRefusal =
  | "handshake-failed"
  | "handshake-timeout"
  | "auth-failed"
  | "protocol-version"
  | "frame-too-large"
  | "frame-budget";

/**
 * A handshake that did not complete. Its error kind: `config` when retrying cannot help until
 * someone changes configuration (`permanent`: a wrong password, no common protocol version),
 * `unavailable` for a timeout, else `invalid-input` (what the peer sent).
 */
export class HandshakeError extends WeavetsError {
  override name = "HandshakeError";
  constructor(
    message: string,
    readonly permanent = false,
    readonly refusal: HandshakeRefusal = "handshake-failed",
  ) {
    super(
      permanent ? "config" : refusal === "handshake-timeout" ? "unavailable" : "invalid-input",
      message,
    );
  }
}

export function encodeHello(h: Hello): Uint8Array {
  if (h.publicKey?.length !== PUBLIC_KEY_BYTES) throw new HandshakeError("a hello needs a key");
  const out = new Uint8Array(HELLO_BYTES);
  out.set(MAGIC);
  out[MAGIC.length] = h.minVersion;
  out[MAGIC.length + 1] = h.maxVersion;
  out[MAGIC.length + 2] = h.authenticated ? 1 : 0;
  out.set(h.publicKey, HELLO_HEAD_BYTES);
  return out;
}

/**
 * How many more bytes the hello in `b` needs (0 when complete). Throws on a wrong magic as soon
 * as the first bytes show it, so a stray client is turned away without waiting. A version 1
 * hello (10 bytes, and the key only with a password) is read too, to refuse it by its version.
 */
export function helloBytesNeeded(b: Uint8Array): number {
  for (let i = 0; i < Math.min(b.length, MAGIC.length); i++) {
    if (b[i] !== MAGIC[i]) throw new HandshakeError("not a weavets peer (bad protocol magic)");
  }
  if (b.length < HELLO_HEAD_BYTES) return HELLO_HEAD_BYTES - b.length;
  return Math.max(0, helloLength(b) - b.length);
}

/** The length of the hello at the start of `b` (its first HELLO_HEAD_BYTES present). */
export function helloLength(b: Uint8Array): number {
  const flags = b[MAGIC.length + 2];
  if (flags & ~1) throw new HandshakeError(`unknown handshake flags ${flags}`);
  const v1 = b[MAGIC.length + 1] < 2;
  return HELLO_HEAD_BYTES + (!v1 || flags & 1 ? PUBLIC_KEY_BYTES : 0);
}

export function decodeHello(b: Uint8Array): Hello {
  if (helloBytesNeeded(b) !== 0) throw new HandshakeError("truncated hello");
  const minVersion = b[MAGIC.length], maxVersion = b[MAGIC.length + 1];
  if (minVersion > maxVersion) {
    throw new HandshakeError(`bad version range ${minVersion}..${maxVersion}`);
  }
  if (b.length !== helloLength(b)) throw new HandshakeError("hello has trailing bytes");
  return {
    minVersion,
    maxVersion,
    authenticated: (b[MAGIC.length + 2] & 1) === 1,
    publicKey: b.length > HELLO_HEAD_BYTES ? b.slice(HELLO_HEAD_BYTES) : undefined,
  };
}

/** The highest version both speak; a refusal says which side to upgrade. */
export function negotiateVersion(local: Hello, remote: Hello): number {
  const v = Math.min(local.maxVersion, remote.maxVersion);
  if (v >= Math.max(local.minVersion, remote.minVersion)) return v;
  const ranges = `this peer speaks ${local.minVersion}..${local.maxVersion}, ` +
    `the peer ${remote.minVersion}..${remote.maxVersion}`;
  throw new HandshakeError(
    remote.maxVersion < local.minVersion
      ? `the peer runs an older weavets (protocol ${ranges}): upgrade it to this release`
      : `the peer runs a newer weavets (protocol ${ranges}): upgrade this peer`,
    true,
  );
}

export type Step<I> =
  | { state: "await-hello" }
  /** `send`: this side sends its identity now (the client does; the server waits). */
  | { state: "await-identity"; version: number; remoteKey: Uint8Array; send: boolean }
  /** `send`: this side sends its identity now (the server, after checking the client's). */
  | { state: "established"; version: number; identity: I; send: boolean }
  | { state: "refused"; reason: string; permanent: boolean; kind: HandshakeRefusal };

/**
 * The handshake as a state machine over received items: a hello, then an identity. The I/O layer
 * feeds it and acts on the resulting state; any step out of order refuses the connection.
 */
export class Handshake<I> {
  #step: Step<I> = { state: "await-hello" };
  constructor(readonly local: Hello, readonly client: boolean) {}

  get step(): Step<I> {
    return this.#step;
  }

  receiveHello(remote: Hello): Step<I> {
    if (this.#step.state !== "await-hello") {
      return this.#refuse("hello received twice", false, "handshake-failed");
    }
    let version: number;
    try {
      version = negotiateVersion(this.local, remote);
    } catch (e) {
      return this.#refuse(describeCause(e), true, "protocol-version");
    }
    if (this.local.authenticated && !remote.authenticated) {
      return this.#refuse(
        "the peer has no password or cluster secret but this peer requires one",
        true,
      );
    }
    if (!this.local.authenticated && remote.authenticated) {
      return this.#refuse(
        "the peer uses a password or cluster secret but none is set on this peer",
        true,
      );
    }
    if (!remote.publicKey) return this.#refuse("the hello has no key", false, "handshake-failed");
    return (this.#step = {
      state: "await-identity",
      version,
      remoteKey: remote.publicKey,
      send: this.client,
    });
  }

  /** The peer's identity, opened and checked by the caller. */
  receiveIdentity(identity: I): Step<I> {
    if (this.#step.state !== "await-identity") {
      return this.#refuse("identity received before the hello", false, "handshake-failed");
    }
    return (this.#step = {
      state: "established",
      version: this.#step.version,
      identity,
      send: !this.client,
    });
  }

  #refuse(reason: string, permanent: boolean, kind: HandshakeRefusal = "auth-failed"): Step<I> {
    if (this.#step.state === "refused") return this.#step;
    return (this.#step = { state: "refused", reason, permanent, kind });
  }
}
