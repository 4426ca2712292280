/**
 * Reads stdin (the network config the runtime pipes in) synchronously, up to a bound: a plugin
 * has nothing else to do meanwhile, and it is ~5 ms faster per pod event than reading it through
 * a web stream. No imports: the plugin's start-up path loads this.
 */

/** Far above any network config (a few KiB, with a large prevResult tens of KiB). */
export const MAX_STDIN_BYTES = 1 << 20;

/** More than `MAX_STDIN_BYTES` on stdin; `partial` is its start. Reading stopped there. */
export class StdinTooLarge extends Error {
  override name = "StdinTooLarge";
  constructor(readonly partial: string) {
    super(`stdin is larger than ${MAX_STDIN_BYTES} bytes`);
  }
}

export function readStdinSync(max = MAX_STDIN_BYTES): string {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(64 * 1024);
  while (true) {
    const n = Deno.stdin.readSync(buf);
    if (n === null || n === 0) break;
    chunks.push(buf.slice(0, n));
    total += n;
    if (total > max) throw new StdinTooLarge(decode(chunks.slice(0, 1), 4096));
  }
  return decode(chunks, total);
}

function decode(chunks: Uint8Array[], total: number): string {
  const all = new Uint8Array(Math.min(total, chunks.reduce((s, c) => s + c.length, 0)));
  let off = 0;
  for (const c of chunks) {
    if (off >= all.length) break;
    const part = c.subarray(0, all.length - off);
    all.set(part, off);
    off += part.length;
  }
  return new TextDecoder().decode(all);
}
