/**
 * Authenticated encryption of userspace-path messages: ChaCha20-Poly1305 (RFC 8439) under the
 * per-direction keys of keys.ts, and a sliding replay window. Sealing and opening run on
 * the system OpenSSL through synchronous FFI (aead_libcrypto.ts: 1.7–3.4× node:crypto, no
 * allocation per message) and fall back to node:crypto where libcrypto.so.3 cannot be loaded; the
 * wire format is the same, so peers with either backend talk. Everything is synchronous, so it
 * runs inside the data-path Workers.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { type AeadBackend, loadLibcrypto } from "./aead_libcrypto.ts";
import { WeavetsError } from "../../errors.ts";

export const AEAD_TAG = 16;
export const AEAD_KEY = 32;
const ALG = "chacha20-poly1305";
const LIBCRYPTO = "libcrypto.so.3";

export class AeadError extends WeavetsError {
  override name = "AeadError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("invalid-input", message, opts);
  }
}

/** node:crypto's ChaCha20-Poly1305: a cipher object and fresh buffers per message. */
export const nodeCryptoBackend: AeadBackend = {
  name: "node:crypto",
  seal(key, nonce, aad, chunks) {
    const c = createCipheriv(ALG, key, nonce, { authTagLength: AEAD_TAG });
    let total = 0;
    for (const p of chunks) total += p.length;
    c.setAAD(aad, { plaintextLength: total });
    const out: Uint8Array[] = [];
    for (const p of chunks) out.push(c.update(p));
    c.final();
    out.push(c.getAuthTag());
    return out;
  },
  sealTag(key, nonce, aad) {
    const c = createCipheriv(ALG, key, nonce, { authTagLength: AEAD_TAG });
    c.setAAD(aad, { plaintextLength: 0 });
    c.final();
    return c.getAuthTag();
  },
  open(key, nonce, aad, sealed) {
    const n = sealed.length - AEAD_TAG;
    try {
      const d = createDecipheriv(ALG, key, nonce, { authTagLength: AEAD_TAG });
      d.setAAD(aad, { plaintextLength: n });
      d.setAuthTag(sealed.subarray(n));
      const body = d.update(sealed.subarray(0, n));
      d.final();
      return new Uint8Array(body.buffer, body.byteOffset, body.length);
    } catch {
      return null;
    }
  },
};

/** libcrypto from `library` when it loads, else node:crypto. */
export function selectBackend(library = LIBCRYPTO): AeadBackend {
  return loadLibcrypto(library) ?? nodeCryptoBackend;
}

let active: AeadBackend | undefined;
/** Chosen on first use, once per thread (each Worker loads libcrypto for itself). */
function backend(): AeadBackend {
  return active ??= selectBackend();
}

/** Which implementation seals and opens in this process, for the daemon to report. */
export function aeadBackend(): AeadBackend["name"] {
  return backend().name;
}

const nonce = new Uint8Array(12);
const nonceView = new DataView(nonce.buffer);
/** Nonce domains: a message's body, and the commit tag of a message of several fragments. */
const BODY = 0;
const COMMIT = 1;
/**
 * The 96-bit nonce: the domain (32 bits), then the message sequence number (64 bits, big-endian),
 * so a message's body and its commit tag never share a nonce under one key.
 */
function nonceFor(seq: number, domain: number): Uint8Array {
  nonceView.setUint32(0, domain);
  nonceView.setUint32(4, Math.floor(seq / 0x100000000));
  nonceView.setUint32(8, seq >>> 0);
  return nonce;
}

/**
 * Seals a message given as consecutive chunks (frame entries) without joining them first;
 * returns the ciphertext pieces followed by the tag. The pieces may live in a buffer that the
 * next sealChunks call in this thread overwrites: copy them out (e.g. into fragments) before.
 */
export function sealChunks(
  key: Uint8Array,
  seq: number,
  aad: Uint8Array,
  chunks: Uint8Array[],
): Uint8Array[] {
  if (key.length !== AEAD_KEY) {
    throw new AeadError(`a key must be ${AEAD_KEY} bytes (keys.ts directionKey)`);
  }
  return backend().seal(key, nonceFor(seq, BODY), aad, chunks);
}

/**
 * The plaintext, or null when the message is forged, corrupted or under another key. The
 * plaintext may live in a buffer that the next open call in this thread overwrites.
 */
export function open(
  key: Uint8Array,
  seq: number,
  aad: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | null {
  if (sealed.length < AEAD_TAG || key.length !== AEAD_KEY) return null;
  try {
    return backend().open(key, nonceFor(seq, BODY), aad, sealed);
  } catch {
    return null;
  }
}

/**
 * The commit tag of message `seq`: authenticates `aad` (fragment 0's header, the wire body's
 * length and the message's tag) under the message's key. Valid until the next commitTag call.
 */
export function commitTag(key: Uint8Array, seq: number, aad: Uint8Array): Uint8Array {
  if (key.length !== AEAD_KEY) {
    throw new AeadError(`a key must be ${AEAD_KEY} bytes (keys.ts directionKey)`);
  }
  return backend().sealTag(key, nonceFor(seq, COMMIT), aad);
}

/** Whether `tag` is the commit tag of message `seq` over `aad` under `key`. */
export function verifyCommit(
  key: Uint8Array,
  seq: number,
  aad: Uint8Array,
  tag: Uint8Array,
): boolean {
  if (tag.length !== AEAD_TAG || key.length !== AEAD_KEY) return false;
  try {
    return backend().open(key, nonceFor(seq, COMMIT), aad, tag) !== null;
  } catch {
    return false;
  }
}

/**
 * Sliding-window replay protection over message sequence numbers (RFC 4303 §3.4.3 style): accepts
 * each number once, and nothing older than `size` behind the highest seen. Call `check` before the
 * (costly) decryption and `accept` only after it authenticated.
 */
export class ReplayWindow {
  #top: number;
  readonly #bits: Uint32Array;

  /**
   * `seen`: the highest number accepted before (by an earlier instance of this window, e.g. in a
   * Worker that died): it and everything below it count as seen.
   */
  constructor(readonly size = 4096, seen = -1) {
    if (size % 32 !== 0 || size <= 0) throw new RangeError("window size must be a multiple of 32");
    this.#bits = new Uint32Array(size / 32);
    this.#top = seen;
    if (seen >= 0) this.#bits.fill(0xffffffff);
  }

  /** The highest number accepted (-1: none). */
  get top(): number {
    return this.#top;
  }

  check(seq: number): boolean {
    if (seq > this.#top) return true;
    if (this.#top - seq >= this.size) return false;
    const i = seq % this.size;
    return (this.#bits[i >>> 5] & (1 << (i & 31))) === 0;
  }

  accept(seq: number): boolean {
    if (!this.check(seq)) return false;
    if (seq > this.#top) {
      const shift = this.#top < 0 ? this.size : seq - this.#top;
      if (shift >= this.size) this.#bits.fill(0);
      else for (let s = this.#top + 1; s <= seq; s++) this.#clear(s);
      this.#top = seq;
    }
    const i = seq % this.size;
    this.#bits[i >>> 5] |= 1 << (i & 31);
    return true;
  }

  #clear(seq: number): void {
    const i = seq % this.size;
    this.#bits[i >>> 5] &= ~(1 << (i & 31));
  }
}
