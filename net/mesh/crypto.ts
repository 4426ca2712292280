/**
 * Control-connection encryption: X25519 per connection, keys from HKDF-SHA256 over the shared
 * secret with the password as salt, ChaCha20-Poly1305 with one key and one nonce counter per
 * direction. A peer that does not know the password derives different keys, so its first sealed
 * message (the identity) fails to open: that is the mutual authentication.
 *
 * The same exchange also yields the connection's data-path secret (the userspace path's keys
 * derive from it): knowing the password and recording the traffic is not enough to read it.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from "node:crypto";
import type { DataKey } from "./gossip_channel.ts";

export const PUBLIC_KEY_BYTES = 32;
export const TAG_BYTES = 16;
// DER prefix of an X25519 SubjectPublicKeyInfo; the raw 32-byte key follows it.
const SPKI_PREFIX = new Uint8Array([
  0x30,
  0x2a,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x03,
  0x21,
  0x00,
]);

export class CryptoError extends Error {
  override name = "CryptoError";
}

export interface KeyPair {
  publicKey: Uint8Array;
  privateKey: KeyObject;
}

export function generateKeyPair(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("x25519");
  const der = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
  return { publicKey: der.slice(SPKI_PREFIX.length), privateKey };
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** Seals one direction's messages; the nonce is the message counter. */
export class Sealer {
  #n = 0n;
  constructor(private readonly key: Uint8Array) {}
  seal(plain: Uint8Array): Uint8Array {
    const c = createCipheriv("chacha20-poly1305", this.key, nonce(this.#n++), {
      authTagLength: TAG_BYTES,
    });
    const body = c.update(plain);
    c.final();
    const out = new Uint8Array(body.length + TAG_BYTES);
    out.set(body);
    out.set(c.getAuthTag(), body.length);
    return out;
  }
}

/** Opens the other direction's messages, expecting them in order (TCP keeps it). */
export class Opener {
  #n = 0n;
  constructor(private readonly key: Uint8Array) {}
  open(sealed: Uint8Array): Uint8Array {
    if (sealed.length < TAG_BYTES) throw new CryptoError("sealed message shorter than its tag");
    const d = createDecipheriv("chacha20-poly1305", this.key, nonce(this.#n), {
      authTagLength: TAG_BYTES,
    });
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const body = d.update(sealed.subarray(0, sealed.length - TAG_BYTES));
    try {
      d.final();
    } catch {
      throw new CryptoError("message failed authentication");
    }
    this.#n++;
    return new Uint8Array(body);
  }
}

function nonce(n: bigint): Uint8Array {
  const b = new Uint8Array(12);
  new DataView(b.buffer).setBigUint64(4, n);
  return b;
}

export const DATA_KEY_ID_BYTES = 8;

export interface Session {
  sealer: Sealer;
  opener: Opener;
  /** The data-path secret: id = the first 8 bytes of a hash of both public keys. */
  dataKey: DataKey;
}

/** Derives this side's session from its key pair, the peer's public key and the password. */
export function deriveSession(mine: KeyPair, theirPublic: Uint8Array, password: string): Session {
  if (theirPublic.length !== PUBLIC_KEY_BYTES) throw new CryptoError("bad public key length");
  const order = compareBytes(mine.publicKey, theirPublic);
  // A peer echoing our own key back would otherwise get our keys for its direction.
  if (order === 0) throw new CryptoError("peer presented our own public key");
  let shared: Uint8Array;
  try {
    const pub = createPublicKey({
      key: Buffer.concat([SPKI_PREFIX, theirPublic]),
      format: "der",
      type: "spki",
    });
    shared = new Uint8Array(diffieHellman({ privateKey: mine.privateKey, publicKey: pub }));
  } catch (e) {
    throw new CryptoError(`key exchange failed: ${(e as Error).message}`);
  }
  if (shared.every((b) => b === 0)) throw new CryptoError("key exchange gave a degenerate secret");
  const [lo, hi] = order < 0 ? [mine.publicKey, theirPublic] : [theirPublic, mine.publicKey];
  const salt = createHash("sha256").update("weavets password\0").update(password).digest();
  const info = Buffer.concat([Buffer.from("weavets control v1\0"), lo, hi]);
  const okm = new Uint8Array(hkdfSync("sha256", shared, salt, info, 64));
  const loToHi = okm.slice(0, 32), hiToLo = okm.slice(32);
  // Its own label, so the data-path secret is independent of the control keys.
  const dataInfo = Buffer.concat([Buffer.from("weavets data v1\0"), lo, hi]);
  const dataKey: DataKey = {
    id: new Uint8Array(
      createHash("sha256").update("weavets data key id\0").update(lo).update(hi).digest()
        .subarray(0, DATA_KEY_ID_BYTES),
    ),
    secret: new Uint8Array(hkdfSync("sha256", shared, salt, dataInfo, 32)),
  };
  return order < 0
    ? { sealer: new Sealer(loToHi), opener: new Opener(hiToLo), dataKey }
    : { sealer: new Sealer(hiToLo), opener: new Opener(loToHi), dataKey };
}
