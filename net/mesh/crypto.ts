/**
 * Control-connection cryptography (docs/PROTOCOL.md §2), protocol version 2:
 * - the secret (the operator's password, or the cluster secret) is stretched once per process
 *   with scrypt (N = 2^15, r = 8, p = 1: ~0.2 s and 32 MiB here) into a 32-byte pre-shared key,
 *   so every offline guess costs an attacker the same;
 * - per connection, X25519 with fresh keys; every key comes from HKDF-SHA256 with the shared
 *   secret as input, the pre-shared key as salt, and the transcript hash (both hellos, so both
 *   X25519 keys, versions and flags) in the info: a hello changed on the way gives other keys;
 * - ChaCha20-Poly1305 with one key and one nonce counter per direction, re-keyed (a one-way
 *   ratchet) after REKEY_AFTER_MESSAGES frames or REKEY_AFTER_MS.
 * A peer that does not know the secret derives other keys, so its first sealed frame fails to
 * open. The client's frame comes first, and the server seals nothing before it has opened it.
 *
 * The same exchange yields the connection's data-path secret (the userspace path's keys derive
 * from it): knowing the password and recording the traffic is not enough to read it.
 */
import { describeCause } from "../cause.ts";
import { Buffer } from "node:buffer";
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  scryptSync,
} from "node:crypto";
import type { DataKey } from "./gossip_channel.ts";
import { WeavetsError } from "../errors.ts";

export const PUBLIC_KEY_BYTES = 32;
export const TAG_BYTES = 16;
export const PSK_BYTES = 32;
/** scrypt cost; changing any of these is a new protocol version. */
export const SCRYPT = { N: 2 ** 15, r: 8, p: 1, salt: "weavets v2 psk" } as const;
/** A direction's key is ratcheted after this many frames or this long, whichever comes first. */
export const REKEY_AFTER_MESSAGES = 2 ** 20;
export const REKEY_AFTER_MS = 60 * 60 * 1000;
/** A peer that sends this many frames under one key without re-keying is misbehaving. */
export const MAX_MESSAGES_PER_KEY = 2 * REKEY_AFTER_MESSAGES;
export const DATA_KEY_ID_BYTES = 8;

// DER prefix of an X25519 SubjectPublicKeyInfo; the raw 32-byte key follows it.
const SPKI_PREFIX = Uint8Array.of(
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
);
// PKCS#8 prefix of an X25519 private key: fixed keys for the known-answer tests.
const PKCS8_PREFIX = Uint8Array.of(
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x04,
  0x22,
  0x04,
  0x20,
);

export class CryptoError extends WeavetsError {
  override name = "CryptoError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("invalid-input", message, opts);
  }
}

/** The secret stretched for the control protocol; all zeros when no secret is set. */
export type Psk = Uint8Array;

let lastPsk: { secret: string; psk: Psk } | undefined;

/**
 * scrypt over the secret. Meant to be slow, so it runs once per process: the last result is
 * kept (a daemon has one secret; tests that start many meshes with one password pay once).
 */
export function derivePsk(secret: string | null): Psk {
  if (secret === null) return new Uint8Array(PSK_BYTES);
  if (lastPsk?.secret === secret) return lastPsk.psk;
  const psk = new Uint8Array(
    scryptSync(secret, SCRYPT.salt, PSK_BYTES, {
      N: SCRYPT.N,
      r: SCRYPT.r,
      p: SCRYPT.p,
      maxmem: 256 * SCRYPT.N * SCRYPT.r,
    }),
  );
  lastPsk = { secret, psk };
  return psk;
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

/** A key pair from a fixed 32-byte private key: known-answer tests only. */
export function keyPairFromPrivate(raw: Uint8Array): KeyPair {
  if (raw.length !== 32) throw new CryptoError("an X25519 private key has 32 bytes");
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, raw]),
    format: "der",
    type: "pkcs8",
  });
  const der = new Uint8Array(createPublicKey(privateKey).export({ format: "der", type: "spki" }));
  return { publicKey: der.slice(SPKI_PREFIX.length), privateKey };
}

/** SHA-256 of the context and both hellos, client's first: what the keys and signatures bind. */
export function transcriptHash(clientHello: Uint8Array, serverHello: Uint8Array): Uint8Array {
  return new Uint8Array(
    createHash("sha256").update("weavets v2 transcript\0").update(clientHello)
      .update(serverHello).digest(),
  );
}

/** The output of one HKDF-SHA256 label: `info = "weavets v2 " ‖ label ‖ "\0" ‖ transcript`. */
export function expandKey(
  shared: Uint8Array,
  psk: Psk,
  label: string,
  transcript: Uint8Array,
  length = 32,
): Uint8Array {
  const info = Buffer.concat([Buffer.from(`weavets v2 ${label}\0`), transcript]);
  return new Uint8Array(hkdfSync("sha256", shared, psk, info, length));
}

/** The next key of a direction: HKDF-SHA256(ikm = key, no salt, info "weavets v2 rekey\0"). */
export function ratchet(key: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", key, new Uint8Array(0), "weavets v2 rekey\0", 32));
}

/** X25519 with the checks: a peer echoing our key, or a degenerate result, is refused. */
export function sharedSecret(mine: KeyPair, theirPublic: Uint8Array): Uint8Array {
  if (theirPublic.length !== PUBLIC_KEY_BYTES) throw new CryptoError("bad public key length");
  if (Buffer.compare(mine.publicKey, theirPublic) === 0) {
    // Otherwise its direction's keys would be ours.
    throw new CryptoError("peer presented our own public key");
  }
  let shared: Uint8Array;
  try {
    const pub = createPublicKey({
      key: Buffer.concat([SPKI_PREFIX, theirPublic]),
      format: "der",
      type: "spki",
    });
    shared = new Uint8Array(diffieHellman({ privateKey: mine.privateKey, publicKey: pub }));
  } catch (e) {
    throw new CryptoError(`key exchange failed: ${describeCause(e)}`);
  }
  if (shared.every((b) => b === 0)) throw new CryptoError("key exchange gave a degenerate secret");
  return shared;
}

/** Seals one direction's frames; the nonce is the frame counter under the current key. */
export class Sealer {
  #key: Uint8Array;
  #n = 0n;
  #since: number;
  constructor(key: Uint8Array, now: number) {
    this.#key = key;
    this.#since = now;
  }

  /** True when the next frame should be a rekey (then call `rekey` after sealing it). */
  rekeyDue(now: number): boolean {
    return this.#n >= BigInt(REKEY_AFTER_MESSAGES) || now - this.#since >= REKEY_AFTER_MS;
  }

  rekey(now: number): void {
    this.#key = ratchet(this.#key);
    this.#n = 0n;
    this.#since = now;
  }

  seal(plain: Uint8Array): Uint8Array {
    const c = createCipheriv("chacha20-poly1305", this.#key, nonce(this.#n++), {
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

/** Opens the other direction's frames, expecting them in order (TCP keeps it). */
export class Opener {
  #key: Uint8Array;
  #n = 0n;
  constructor(key: Uint8Array) {
    this.#key = key;
  }

  rekey(): void {
    this.#key = ratchet(this.#key);
    this.#n = 0n;
  }

  open(sealed: Uint8Array): Uint8Array {
    if (sealed.length < TAG_BYTES) throw new CryptoError("sealed message shorter than its tag");
    if (this.#n >= BigInt(MAX_MESSAGES_PER_KEY)) {
      throw new CryptoError(`the peer sent ${MAX_MESSAGES_PER_KEY} frames without re-keying`);
    }
    const d = createDecipheriv("chacha20-poly1305", this.#key, nonce(this.#n), {
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

export interface Session {
  sealer: Sealer;
  opener: Opener;
  /** The data-path secret and its 8-byte id, the same on both ends. */
  dataKey: DataKey;
}

/** The keys of one connection, both directions named from the client's side. */
export interface SessionKeys {
  clientToServer: Uint8Array;
  serverToClient: Uint8Array;
  data: Uint8Array;
  dataId: Uint8Array;
}

export function sessionKeys(shared: Uint8Array, psk: Psk, transcript: Uint8Array): SessionKeys {
  return {
    clientToServer: expandKey(shared, psk, "c2s", transcript),
    serverToClient: expandKey(shared, psk, "s2c", transcript),
    data: expandKey(shared, psk, "data", transcript),
    dataId: expandKey(shared, psk, "data id", transcript, DATA_KEY_ID_BYTES),
  };
}

/**
 * This side's session: `client` is the side that dialled. `transcript` from transcriptHash over
 * both hellos as sent.
 */
export function deriveSession(
  mine: KeyPair,
  theirPublic: Uint8Array,
  psk: Psk,
  transcript: Uint8Array,
  client: boolean,
  now: number,
): Session {
  const k = sessionKeys(sharedSecret(mine, theirPublic), psk, transcript);
  const dataKey: DataKey = { id: k.dataId, secret: k.data };
  return client
    ? { sealer: new Sealer(k.clientToServer, now), opener: new Opener(k.serverToClient), dataKey }
    : { sealer: new Sealer(k.serverToClient, now), opener: new Opener(k.clientToServer), dataKey };
}
