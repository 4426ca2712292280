import { WeavetsError } from "../../errors.ts";
/**
 * ChaCha20-Poly1305 through the system OpenSSL (libcrypto.so.3) by synchronous FFI: 1.7× (64 KiB
 * messages) to 3.4× (1,400 B) node:crypto's speed here (bench/aead_bench.ts), with no cipher
 * object per message. One EVP context per key and direction, keyed once and then re-initialised
 * with only the nonce per message; output goes into a scratch buffer owned by this module (one per
 * thread: every Worker loads its own copy), so a result stays valid only until the next call of
 * the same direction, and must not be handed back in as input. Same wire format as node:crypto's
 * "chacha20-poly1305" (RFC 8439, 16-byte tag), so peers with either backend talk.
 */

const KEY = 32;
const NONCE = 12;
const TAG = 16;
const EVP_CTRL_AEAD_GET_TAG = 0x10;
const EVP_CTRL_AEAD_SET_TAG = 0x11;

const SYMBOLS = {
  EVP_chacha20_poly1305: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_new: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_EncryptInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "buffer", "buffer"],
    result: "i32",
  },
  EVP_DecryptInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "buffer", "buffer"],
    result: "i32",
  },
  EVP_EncryptUpdate: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_DecryptUpdate: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_EncryptFinal_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  EVP_DecryptFinal_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  EVP_CIPHER_CTX_ctrl: { parameters: ["pointer", "i32", "i32", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

type Lib = Deno.StaticForeignLibraryInterface<typeof SYMBOLS>;

/** A ChaCha20-Poly1305 implementation with aead.ts's contract (key checked by the caller). */
export interface AeadBackend {
  readonly name: "libcrypto" | "node:crypto";
  /** The ciphertext pieces followed by the 16-byte tag. */
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, chunks: Uint8Array[]): Uint8Array[];
  /** The plaintext, or null when the tag does not authenticate. `sealed` is at least TAG long. */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null;
  /**
   * The tag of an empty plaintext under `aad` (it authenticates `aad` alone), in a buffer of its
   * own: valid until the next sealTag, and never clobbering what `seal` returned.
   */
  sealTag(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array): Uint8Array;
}

/** A growable output buffer: reallocated (rarely) only when a message outgrows it. */
class Scratch {
  bytes = new Uint8Array(128 * 1024);
  fit(n: number): Uint8Array {
    if (n > this.bytes.length) {
      let size = this.bytes.length;
      while (size < n) size *= 2;
      this.bytes = new Uint8Array(size);
    }
    return this.bytes;
  }
}

/**
 * Loads `library` (a soname or path) and returns a backend, or null when it cannot be loaded or
 * lacks ChaCha20-Poly1305 (no FFI permission, no OpenSSL 3, a stripped-down build).
 */
export function loadLibcrypto(library = "libcrypto.so.3"): AeadBackend | null {
  let lib: Lib;
  let dl: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    dl = Deno.dlopen(library, SYMBOLS);
    lib = dl.symbols;
  } catch {
    return null;
  }
  const cipher = lib.EVP_chacha20_poly1305();
  if (cipher === null) {
    dl.close();
    return null;
  }
  return new LibcryptoBackend(lib, cipher);
}

class LibcryptoBackend implements AeadBackend {
  readonly name = "libcrypto";
  readonly #lib: Lib;
  readonly #cipher: Deno.PointerObject;
  // One context per key object and direction; freed when the key is garbage-collected.
  readonly #enc = new WeakMap<Uint8Array, Deno.PointerObject>();
  readonly #dec = new WeakMap<Uint8Array, Deno.PointerObject>();
  readonly #freed: FinalizationRegistry<Deno.PointerObject>;
  readonly #outl = new Int32Array(1);
  readonly #sealOut = new Scratch();
  readonly #openOut = new Scratch();
  readonly #tag = new Uint8Array(TAG);
  readonly #aadTag = new Uint8Array(TAG);
  readonly #none = new Uint8Array(TAG);

  constructor(lib: Lib, cipher: Deno.PointerObject) {
    this.#lib = lib;
    this.#cipher = cipher;
    this.#freed = new FinalizationRegistry((ctx) => lib.EVP_CIPHER_CTX_free(ctx));
  }

  #context(key: Uint8Array, encrypt: boolean): Deno.PointerObject {
    const cache = encrypt ? this.#enc : this.#dec;
    let ctx = cache.get(key);
    if (ctx) return ctx;
    if (key.length !== KEY) throw new WeavetsError("system", `a key must be ${KEY} bytes`);
    ctx = this.#lib.EVP_CIPHER_CTX_new() ?? undefined;
    if (!ctx) throw new WeavetsError("system", "EVP_CIPHER_CTX_new failed (out of memory?)");
    // The context keeps its own copy of the key schedule; the nonce comes with each message.
    const init = encrypt ? this.#lib.EVP_EncryptInit_ex : this.#lib.EVP_DecryptInit_ex;
    if (init(ctx, this.#cipher, null, key, null) !== 1) {
      this.#lib.EVP_CIPHER_CTX_free(ctx);
      throw new WeavetsError("system", "EVP_CipherInit_ex refused the ChaCha20-Poly1305 key");
    }
    cache.set(key, ctx);
    this.#freed.register(key, ctx);
    return ctx;
  }

  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, chunks: Uint8Array[]): Uint8Array[] {
    if (nonce.length !== NONCE) throw new WeavetsError("system", `a nonce must be ${NONCE} bytes`);
    const lib = this.#lib;
    const ctx = this.#context(key, true);
    const outl = this.#outl;
    let total = 0;
    for (const p of chunks) total += p.length;
    const out = this.#sealOut.fit(total + TAG);
    let ok = lib.EVP_EncryptInit_ex(ctx, null, null, null, nonce) === 1 &&
      (aad.length === 0 || lib.EVP_EncryptUpdate(ctx, null, outl, aad, aad.length) === 1);
    let off = 0;
    if (ok && total > 0) {
      // Many small updates cost more than gathering the chunks and encrypting once, in place.
      let src = chunks[0];
      if (src.length !== total) {
        for (const p of chunks) {
          out.set(p, off);
          off += p.length;
        }
        src = out;
      }
      ok = lib.EVP_EncryptUpdate(ctx, out, outl, src, total) === 1;
      off = outl[0];
    }
    ok = ok && lib.EVP_EncryptFinal_ex(ctx, out.subarray(off), outl) === 1;
    off += outl[0];
    ok = ok && off === total &&
      lib.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG, this.#tag) === 1;
    if (!ok) throw new WeavetsError("system", "ChaCha20-Poly1305 sealing failed in libcrypto");
    out.set(this.#tag, total);
    return [out.subarray(0, total), out.subarray(total, total + TAG)];
  }

  sealTag(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array): Uint8Array {
    if (nonce.length !== NONCE) throw new WeavetsError("system", `a nonce must be ${NONCE} bytes`);
    const lib = this.#lib;
    const ctx = this.#context(key, true);
    const outl = this.#outl;
    const ok = lib.EVP_EncryptInit_ex(ctx, null, null, null, nonce) === 1 &&
      (aad.length === 0 || lib.EVP_EncryptUpdate(ctx, null, outl, aad, aad.length) === 1) &&
      lib.EVP_EncryptFinal_ex(ctx, this.#none, outl) === 1 && outl[0] === 0 &&
      lib.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG, this.#aadTag) === 1;
    if (!ok) throw new WeavetsError("system", "ChaCha20-Poly1305 sealing failed in libcrypto");
    return this.#aadTag;
  }

  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    if (nonce.length !== NONCE || sealed.length < TAG) return null;
    const lib = this.#lib;
    const ctx = this.#context(key, false);
    const outl = this.#outl;
    const n = sealed.length - TAG;
    const out = this.#openOut.fit(n + TAG); // +TAG: Final's output pointer stays inside
    this.#tag.set(sealed.subarray(n));
    let ok = lib.EVP_DecryptInit_ex(ctx, null, null, null, nonce) === 1 &&
      (aad.length === 0 || lib.EVP_DecryptUpdate(ctx, null, outl, aad, aad.length) === 1);
    let off = 0;
    if (ok && n > 0) {
      ok = lib.EVP_DecryptUpdate(ctx, out, outl, sealed, n) === 1;
      off = outl[0];
    }
    ok = ok && lib.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG, this.#tag) === 1 &&
      lib.EVP_DecryptFinal_ex(ctx, out.subarray(off), outl) === 1;
    return ok && off + outl[0] === n ? out.subarray(0, n) : null;
  }
}
