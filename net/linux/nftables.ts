/**
 * nftables through libnftables (the library the `nft` command is built on) by FFI: a script runs
 * as one kernel transaction, in the calling thread's network namespace, without starting a
 * process (~0.2 ms for a few set elements, against ~40 ms to spawn `nft`). Synchronous, like the
 * rest of net/linux: a context is made per call, so it talks to the namespace the caller is in.
 */
import { describeCause } from "../cause.ts";
import { trimMalloc } from "./memory.ts";
import { WeavetsError } from "../errors.ts";

const SYMBOLS = {
  nft_ctx_new: { parameters: ["u32"], result: "pointer" },
  nft_ctx_free: { parameters: ["pointer"], result: "void" },
  nft_ctx_buffer_output: { parameters: ["pointer"], result: "i32" },
  nft_ctx_buffer_error: { parameters: ["pointer"], result: "i32" },
  nft_ctx_get_output_buffer: { parameters: ["pointer"], result: "pointer" },
  nft_ctx_get_error_buffer: { parameters: ["pointer"], result: "pointer" },
  nft_ctx_output_set_flags: { parameters: ["pointer", "u32"], result: "void" },
  nft_run_cmd_from_buffer: { parameters: ["pointer", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** Above this size a script's parse is worth giving back (memory.ts): ~20 MB for 20,000 elements. */
const LARGE_SCRIPT = 64 * 1024;
/**
 * A call that took this long did a lot of allocating whatever its size: libnftables 1.0.6 fills
 * its cache with every set element of every table for some listings (`list counters`, `list
 * tables`: ~15 MB and ~250 ms with 21,000 elements), freed with the context but kept by malloc.
 */
const SLOW_CALL_MS = 20;

const NFT_CTX_DEFAULT = 0;
const NFT_CTX_OUTPUT_JSON = 1 << 4;

/** The script was refused (nothing of it applied) or the library is missing. */
export class NftError extends WeavetsError {
  override name = "NftError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("system", message, opts);
  }
}

let lib: Deno.StaticForeignLibraryInterface<typeof SYMBOLS> | undefined;

function library(): Deno.StaticForeignLibraryInterface<typeof SYMBOLS> {
  if (lib) return lib;
  try {
    lib = Deno.dlopen("libnftables.so.1", SYMBOLS).symbols;
  } catch (e) {
    throw new NftError(
      `cannot load libnftables.so.1 (install nftables / libnftables1): ${describeCause(e)}`,
    );
  }
  return lib;
}

const enc = new TextEncoder();

/**
 * Runs an nft script as one transaction; returns what nft printed (JSON when `json`).
 * Throws NftError with nft's own message when the kernel or the parser refuses it.
 */
export function runNft(script: string, opts: { json?: boolean } = {}): string {
  const l = library();
  const t0 = performance.now();
  const ctx = l.nft_ctx_new(NFT_CTX_DEFAULT);
  if (ctx === null) throw new NftError("nft_ctx_new failed");
  try {
    l.nft_ctx_buffer_output(ctx);
    l.nft_ctx_buffer_error(ctx);
    if (opts.json) l.nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON);
    const rc = l.nft_run_cmd_from_buffer(ctx, enc.encode(script + "\0"));
    const text = (p: Deno.PointerValue) => (p === null ? "" : Deno.UnsafePointerView.getCString(p));
    if (rc !== 0) {
      const err = text(l.nft_ctx_get_error_buffer(ctx)).trim();
      throw new NftError(`nft refused the change: ${err.slice(0, 2000) || `error ${rc}`}`);
    }
    return text(l.nft_ctx_get_output_buffer(ctx));
  } finally {
    l.nft_ctx_free(ctx);
    if (script.length > LARGE_SCRIPT || performance.now() - t0 > SLOW_CALL_MS) trimMalloc();
  }
}
