/**
 * The few protocol buffers wire-format pieces the CRI client needs (proto3, no generated code):
 * varints, length-delimited fields (strings, bytes, nested messages, map entries) and a reader
 * that groups a message's fields by number. Written from the protobuf encoding documentation;
 * golden vectors in protobuf_test.ts.
 */

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Wire types (protobuf encoding: "varint" 0, "i64" 1, "len" 2, "i32" 5). */
export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;
export const I32 = 5;

/** Builds one message. proto3 defaults (0, "", false) are left out, as protoc's encoders do. */
export class Writer {
  #parts: number[] = [];

  #varint(v: bigint | number): void {
    let n = BigInt.asUintN(64, BigInt(v));
    while (n >= 0x80n) {
      this.#parts.push(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    this.#parts.push(Number(n));
  }

  #tag(field: number, wire: number): void {
    this.#varint((field << 3) | wire);
  }

  /** int32/int64/uint32/uint64/enum/bool: negative numbers as their 64-bit two's complement. */
  varint(field: number, v: number | bigint | boolean): this {
    const n = typeof v === "boolean" ? (v ? 1 : 0) : v;
    if (n === 0 || n === 0n) return this;
    this.#tag(field, VARINT);
    this.#varint(n);
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    if (b.length === 0) return this;
    this.#tag(field, LEN);
    this.#varint(b.length);
    for (const x of b) this.#parts.push(x);
    return this;
  }

  string(field: number, s: string | undefined): this {
    return s ? this.bytes(field, enc.encode(s)) : this;
  }

  /** A nested message, written even when empty (presence matters for messages). */
  message(field: number, m: Writer | undefined): this {
    if (!m) return this;
    const b = m.finish();
    this.#tag(field, LEN);
    this.#varint(b.length);
    for (const x of b) this.#parts.push(x);
    return this;
  }

  /** map<string, string>: one entry message (key = 1, value = 2) per pair. */
  map(field: number, m: Record<string, string> | undefined): this {
    for (const [k, v] of Object.entries(m ?? {})) {
      this.message(field, new Writer().string(1, k).string(2, v));
    }
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }
}

/** One decoded field: a varint as bigint, or the raw bytes of a length-delimited/fixed field. */
export type Value = bigint | Uint8Array;

/** A message's fields by number, in order (repeated fields have several values). */
export class Fields {
  constructor(readonly byNumber: Map<number, Value[]>) {}

  static decode(b: Uint8Array): Fields {
    const out = new Map<number, Value[]>();
    let i = 0;
    const varint = (): bigint => {
      let n = 0n, shift = 0n;
      while (true) {
        if (i >= b.length) throw new Error("protobuf: truncated varint");
        const x = b[i++];
        n |= BigInt(x & 0x7f) << shift;
        if (!(x & 0x80)) return n;
        shift += 7n;
        if (shift > 63n) throw new Error("protobuf: varint too long");
      }
    };
    const take = (n: number): Uint8Array => {
      if (i + n > b.length) throw new Error("protobuf: truncated field");
      const v = b.subarray(i, i + n);
      i += n;
      return v;
    };
    while (i < b.length) {
      const tag = varint();
      const field = Number(tag >> 3n), wire = Number(tag & 7n);
      let v: Value;
      if (wire === VARINT) v = varint();
      else if (wire === LEN) v = take(Number(varint()));
      else if (wire === I64) v = take(8);
      else if (wire === I32) v = take(4);
      else throw new Error(`protobuf: unsupported wire type ${wire} (field ${field})`);
      const list = out.get(field) ?? [];
      list.push(v);
      out.set(field, list);
    }
    return new Fields(out);
  }

  #last(field: number): Value | undefined {
    const l = this.byNumber.get(field);
    return l?.[l.length - 1];
  }

  string(field: number): string {
    const v = this.#last(field);
    return v instanceof Uint8Array ? dec.decode(v) : "";
  }

  number(field: number): number {
    const v = this.#last(field);
    return typeof v === "bigint" ? Number(BigInt.asIntN(64, v)) : 0;
  }

  /** A nested message (empty when absent). */
  message(field: number): Fields {
    const v = this.#last(field);
    return Fields.decode(v instanceof Uint8Array ? v : new Uint8Array());
  }

  messages(field: number): Fields[] {
    return (this.byNumber.get(field) ?? [])
      .filter((v): v is Uint8Array => v instanceof Uint8Array)
      .map((v) => Fields.decode(v));
  }

  map(field: number): Record<string, string> {
    return Object.fromEntries(this.messages(field).map((e) => [e.string(1), e.string(2)]));
  }
}
