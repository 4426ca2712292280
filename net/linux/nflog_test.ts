import assert from "node:assert/strict";
import { decodeNflog } from "./nflog.ts";
import { decodeMessages, MessageEncoder } from "./netlink/codec.ts";

Deno.test("NFLOG: packets and their prefixes out of nfnetlink_log messages", () => {
  const packet = (prefix: string | null, payload: number[] | null, type = 4 << 8) => {
    const m = new MessageEncoder(type, 0);
    m.raw(Uint8Array.of(2, 0, 0, 86)); // nfgenmsg: AF_INET, v0, group 86 (big-endian)
    m.attr(1, Uint8Array.of(0x08, 0x00, 3, 0)); // NFULA_PACKET_HDR: IPv4, hook forward
    if (payload) m.attr(9, Uint8Array.from(payload)); // NFULA_PAYLOAD
    if (prefix !== null) m.str(10, prefix); // NFULA_PREFIX
    return m.finish(0);
  };
  const joined = (...parts: Uint8Array[]) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let off = 0;
    for (const p of parts) out.set(p, (off += p.length) - p.length);
    return out;
  };
  const got = decodeNflog(decodeMessages(joined(
    packet("weavets-npc ingress ", [0x45, 0, 0, 20]),
    packet(null, [0x45, 1]),
    packet("no payload", null),
    packet("config answer", [1], (4 << 8) | 1),
  )));
  assert.deepEqual(got, [
    { prefix: "weavets-npc ingress ", payload: Uint8Array.of(0x45, 0, 0, 20) },
    { prefix: "", payload: Uint8Array.of(0x45, 1) },
  ]);
});
