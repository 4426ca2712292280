/**
 * Test helpers: the datagrams a sender puts on the underlay for one message, made with the
 * product's own composer and fragment writer (no sockets), split the way UDP GSO splits a send.
 */
import { MessageComposer, type SealKey } from "../compose.ts";
import { MAX_GSO_BYTES, type MessageHeader, writeFragments } from "../format.ts";

const composer = new MessageComposer();

/** The datagrams of message `body` under `header` (seq as given), in sending order. */
export function messageDatagrams(
  header: MessageHeader,
  body: readonly Uint8Array[],
  key: SealKey | null,
  segSize: number,
): Uint8Array[] {
  const { plan, chunks } = composer.compose(header, body, key, segSize);
  const out = new Uint8Array(plan.total + plan.count * 64 + 64);
  const sends: number[] = [];
  const end = writeFragments(out, 0, header, plan, chunks, segSize, sends);
  if (end < 0) throw new Error("test buffer too small");
  const d: Uint8Array[] = [];
  for (let i = 0; i < sends.length; i += 2) {
    const [start, len] = [sends[i], sends[i + 1]];
    if (len > MAX_GSO_BYTES) throw new Error(`a GSO send of ${len} bytes`);
    for (let o = 0; o < len; o += segSize) {
      d.push(out.slice(start + o, start + Math.min(len, o + segSize)));
    }
  }
  return d;
}

/** A frame entry (u32 length ‖ `n` bytes: virtio-net header and frame) filled from `seed`. */
export function entry(n: number, seed: number): Uint8Array {
  const e = new Uint8Array(4 + n);
  new DataView(e.buffer).setUint32(0, n);
  for (let i = 4; i < e.length; i++) e[i] = (i * 31 + seed) & 0xff;
  return e;
}

export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export function unhex(s: string): Uint8Array {
  const t = s.replace(/\s+/g, "");
  return Uint8Array.from(
    { length: t.length / 2 },
    (_, i) => parseInt(t.slice(2 * i, 2 * i + 2), 16),
  );
}
