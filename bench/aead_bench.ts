/**
 * AEAD micro-benchmark: seal + open of one message, for 64 KiB (a TSO superframe) and 1,400-byte
 * (one MTU-sized frame) messages, with libcrypto (FFI) and node:crypto, interleaved in rounds in one
 * process; prints message bytes sealed-and-opened per second, µs per message and libcrypto's speed as a ratio to node:crypto. Bounded:
 * about 0.25 s per backend, size and round (--rounds R, default 3: about 4 s in all).
 *   deno run -A bench/aead_bench.ts [--rounds R]
 */
import { nodeCryptoBackend } from "../net/dataplane/sleeve/aead.ts";
import { type AeadBackend, loadLibcrypto } from "../net/dataplane/sleeve/aead_libcrypto.ts";

const args = Deno.args;
const ROUNDS = args.includes("--rounds") ? Number(args[args.indexOf("--rounds") + 1]) || 3 : 3;
const SLICE_MS = 250;

const libcrypto = loadLibcrypto();
if (!libcrypto) {
  console.error("libcrypto.so.3 did not load: nothing to compare node:crypto with");
  Deno.exit(1);
}
const backends: AeadBackend[] = [libcrypto, nodeCryptoBackend];
const key = crypto.getRandomValues(new Uint8Array(32));
const aad = new Uint8Array(24).fill(0x57);
const nonce = new Uint8Array(12);
const nonceView = new DataView(nonce.buffer);

/** Messages (seal + open) per second for `size`-byte messages during one time slice. */
function rate(b: AeadBackend, size: number, chunked: boolean): number {
  const plain = crypto.getRandomValues(new Uint8Array(size));
  // A 64 KiB message is often many frame entries: seal it in 1,414-byte chunks when asked.
  const step = chunked ? 1414 : size;
  const chunks: Uint8Array[] = [];
  for (let o = 0; o < size; o += step) chunks.push(plain.subarray(o, o + step));
  const sealed = new Uint8Array(size + 16);
  let n = 0;
  const until = performance.now() + SLICE_MS;
  const t0 = performance.now();
  while (performance.now() < until) {
    for (let i = 0; i < 16; i++, n++) {
      nonceView.setUint32(8, n);
      let o = 0;
      for (const p of b.seal(key, nonce, aad, chunks)) {
        sealed.set(p, o);
        o += p.length;
      }
      if (!b.open(key, nonce, aad, sealed)) throw new Error(`${b.name} failed to open`);
    }
  }
  return n / ((performance.now() - t0) / 1000);
}

const cases = [
  { label: "64 KiB, one chunk", size: 65536, chunked: false },
  { label: "64 KiB, 1,414-byte chunks", size: 65536, chunked: true },
  { label: "1,400 B", size: 1400, chunked: false },
];
const results = new Map<string, number[]>();
for (let r = 0; r < ROUNDS; r++) {
  for (const c of cases) {
    for (const b of backends) {
      const k = `${c.label}|${b.name}`;
      results.set(k, [...(results.get(k) ?? []), rate(b, c.size, c.chunked)]);
    }
  }
}
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];

console.log(`AEAD seal+open, median of ${ROUNDS} rounds of ${SLICE_MS} ms, load ${loadavg()}`);
console.log("| message | libcrypto GB/s (µs per seal+open) | node:crypto GB/s (µs) | ratio |");
console.log("| --- | --- | --- | --- |");
for (const c of cases) {
  const [l, n] = backends.map((b) => median(results.get(`${c.label}|${b.name}`)!));
  const cell = (perSec: number) =>
    `${((perSec * c.size) / 1e9).toFixed(2)} (${(1e6 / perSec).toFixed(1)})`;
  console.log(`| ${c.label} | ${cell(l)} | ${cell(n)} | ${(l / n).toFixed(2)}× |`);
}

function loadavg(): string {
  return Deno.loadavg().map((x) => x.toFixed(1)).join(" ");
}
