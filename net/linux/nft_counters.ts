/**
 * Named nftables counters of one table, read straight from the kernel: one NFT_MSG_GETOBJ dump
 * over NETLINK_NETFILTER, filtered by the kernel to the table's counter objects
 * (linux/netfilter/nf_tables.h). Encoding and decoding are pure; readNftCounters is the I/O.
 *
 * Why not libnftables (`list counters table …`): nftables 1.0.6 fills its whole cache, every set
 * element included, before it lists anything. With the NetworkPolicy benchmark's load (21,000
 * elements) each read held the daemon's main thread 75–250 ms and left ~15 MB of freed parse in
 * malloc's arena — every 5 s, for the status poll and each metrics scrape. This reads three
 * small objects (~0.1 ms).
 */
import { Errno } from "./errno.ts";
import { LinuxError } from "./errors.ts";
import {
  decodeAttrs,
  type Message,
  MessageEncoder,
  NLM_F_DUMP,
  NLM_F_REQUEST,
} from "./netlink/codec.ts";
import { dump, NETLINK_NETFILTER } from "./netlink/socket.ts";

const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWOBJ = 18;
const NFT_MSG_GETOBJ = 19;
const NFTA_OBJ_TABLE = 1;
const NFTA_OBJ_NAME = 2;
const NFTA_OBJ_TYPE = 3;
const NFTA_OBJ_DATA = 4;
const NFT_OBJECT_COUNTER = 1;
const NFTA_COUNTER_BYTES = 1;
const NFTA_COUNTER_PACKETS = 2;

/** nftables address families (NFPROTO_*) this module is asked about. */
export const NFPROTO_INET = 1;

export interface NftCounter {
  packets: number;
  bytes: number;
}

/** The dump request for the counter objects of `table` (pure). */
export function counterDumpRequest(family: number, table: string): MessageEncoder {
  const m = new MessageEncoder(
    (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETOBJ,
    NLM_F_REQUEST | NLM_F_DUMP,
  );
  m.raw(Uint8Array.of(family, 0, 0, 0)); // nfgenmsg: family, NFNETLINK_V0, res_id 0
  m.str(NFTA_OBJ_TABLE, table);
  m.attr(NFTA_OBJ_TYPE, be32(NFT_OBJECT_COUNTER));
  return m;
}

/**
 * The counters of `table` among the dump's messages, by name (pure). Objects of other tables or
 * types, and counters without both values, are left out: the kernel filters already, this only
 * refuses to report what it did not ask for.
 */
export function decodeCounters(msgs: Message[], table: string): Map<string, NftCounter> {
  const out = new Map<string, NftCounter>();
  for (const m of msgs) {
    if (m.type !== ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWOBJ)) continue;
    const a = decodeAttrs(m.payload, 4); // after the nfgenmsg
    const type = a.get(NFTA_OBJ_TYPE);
    const name = a.str(NFTA_OBJ_NAME);
    if (a.str(NFTA_OBJ_TABLE) !== table || name === undefined || !type || type.length < 4) continue;
    if (new DataView(type.buffer, type.byteOffset, 4).getUint32(0) !== NFT_OBJECT_COUNTER) continue;
    const data = a.nested(NFTA_OBJ_DATA);
    const packets = be64(data.get(NFTA_COUNTER_PACKETS));
    const bytes = be64(data.get(NFTA_COUNTER_BYTES));
    if (packets === undefined || bytes === undefined) continue;
    out.set(name, { packets, bytes });
  }
  return out;
}

/**
 * The named counters of `table` in the calling thread's network namespace; empty when the table
 * does not exist (or holds none). Throws LinuxError when the kernel has no nf_tables.
 */
export function readNftCounters(family: number, table: string): Map<string, NftCounter> {
  const ctx = { op: "read nftables counters", object: table };
  try {
    return decodeCounters(dump(counterDumpRequest(family, table), ctx, NETLINK_NETFILTER), table);
  } catch (e) {
    // An absent table: a dump says so with ENOENT on some kernels, with nothing on others.
    if (e instanceof LinuxError && e.errno === Errno.ENOENT) return new Map();
    throw e;
  }
}

function be32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v);
  return b;
}

function be64(d: Uint8Array | undefined): number | undefined {
  if (!d || d.length < 8) return undefined;
  return Number(new DataView(d.buffer, d.byteOffset, 8).getBigUint64(0));
}
