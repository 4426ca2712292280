import assert from "node:assert/strict";
import { Namespaces } from "../../tests/harness/netns.ts";
import { decodeMessages, MessageEncoder } from "./netlink/codec.ts";
import { inNetns } from "./netns.ts";
import { runNft } from "./nftables.ts";
import {
  counterDumpRequest,
  decodeCounters,
  NFPROTO_INET,
  readNftCounters,
} from "./nft_counters.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("nft counters: the GETOBJ dump request, byte for byte (golden vector)", () => {
  const got = hex(counterDumpRequest(NFPROTO_INET, "weavets_npc").finish(7));
  assert.equal(
    got,
    "2c000000" + "130a" + "0103" + "07000000" + "00000000" + // nlmsghdr: len 44, NFT_MSG_GETOBJ
      "01000000" + // nfgenmsg: NFPROTO_INET, v0, res_id 0
      "10000100" + hex(new TextEncoder().encode("weavets_npc\0")) + // NFTA_OBJ_TABLE
      "08000300" + "00000001", // NFTA_OBJ_TYPE: NFT_OBJECT_COUNTER, big-endian
  );
});

/** A NEWOBJ message as the kernel sends it. */
function newObj(
  o: { table: string; name: string; type?: number; packets?: bigint; bytes?: bigint },
  msgType = (10 << 8) | 18,
): Uint8Array {
  const be64 = (v: bigint) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v);
    return b;
  };
  const m = new MessageEncoder(msgType, 0x2);
  m.raw(Uint8Array.of(NFPROTO_INET, 0, 0, 5));
  m.str(1, o.table);
  m.str(2, o.name);
  m.attr(3, Uint8Array.of(0, 0, 0, o.type ?? 1));
  m.nest(4, () => {
    if (o.bytes !== undefined) m.attr(1, be64(o.bytes));
    if (o.packets !== undefined) m.attr(2, be64(o.packets));
  }, true);
  m.u32(5, 1); // NFTA_OBJ_USE
  return m.finish(9);
}

Deno.test("nft counters: decoding keeps only complete counters of the table asked about", () => {
  const parts = [
    newObj({ table: "t", name: "blocked_ingress", packets: 3n, bytes: 180n }),
    newObj({ table: "t", name: "big", packets: 2n ** 40n, bytes: 2n ** 50n }),
    newObj({ table: "other", name: "x", packets: 1n, bytes: 1n }),
    newObj({ table: "t", name: "a_quota", type: 2, packets: 1n, bytes: 1n }),
    newObj({ table: "t", name: "no_packets", bytes: 1n }),
    newObj({ table: "t", name: "not_newobj", packets: 1n, bytes: 1n }, (10 << 8) | 20),
  ];
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((off, p) => (all.set(p, off), off + p.length), 0);
  assert.deepEqual(
    decodeCounters(decodeMessages(all), "t"),
    new Map([
      ["blocked_ingress", { packets: 3, bytes: 180 }],
      ["big", { packets: 2 ** 40, bytes: 2 ** 50 }],
    ]),
  );
  assert.deepEqual(decodeCounters([], "t"), new Map());
});

Deno.test({
  name: "nft counters: read from the kernel, the same as nft lists them; an absent table: none",
  ignore: Deno.uid() !== 0,
}, () => {
  const ns = new Namespaces("wtnfc");
  try {
    const path = `/run/netns/${ns.add("k")}`;
    inNetns(path, () => {
      assert.deepEqual(readNftCounters(NFPROTO_INET, "wtnfc_t"), new Map());
      runNft([
        "table inet wtnfc_t {",
        "  counter one { packets 5 bytes 300 }",
        "  counter two { }",
        "  quota q { 1 mbytes }",
        "  set s { type ipv4_addr; elements = { 10.0.0.1, 10.0.0.2 }; }",
        "}",
        "table ip wtnfc_t { counter other { packets 1 bytes 1 }; }",
      ].join("\n"));
      const got = readNftCounters(NFPROTO_INET, "wtnfc_t");
      const listed = JSON.parse(runNft("list counters table inet wtnfc_t", { json: true }));
      const want = new Map<string, { packets: number; bytes: number }>(
        // deno-lint-ignore no-explicit-any
        listed.nftables.filter((x: any) => x.counter).map((x: any) => [
          x.counter.name,
          { packets: x.counter.packets, bytes: x.counter.bytes },
        ]),
      );
      assert.deepEqual(got, want);
      assert.deepEqual(got.get("one"), { packets: 5, bytes: 300 });
      assert.equal(got.size, 2, "the quota and the ip table's counter are not included");
      runNft("delete table inet wtnfc_t");
      assert.deepEqual(readNftCounters(NFPROTO_INET, "wtnfc_t"), new Map());
    });
  } finally {
    ns.cleanup();
  }
});
