/**
 * What one topology message can cost the event loop at the bounds (net/mesh/topology.ts LIMITS,
 * topology_store.ts STORE_LIMITS, topology_gossip.ts slices): decoding the largest message
 * (bytes, and entries), reading the connection records one slice merges, one slice's signature
 * checks, and a route computation over the largest topology kept. Each is the median of `--runs`.
 * Goal: every line under 50 ms. The last line is one Ed25519 verification, the machine's pace
 * (about 55 µs on a quiet core of the machine the goals were set on): on a loaded machine, scale.
 *
 *   deno run -A bench/topology_cost.ts [--runs 7]
 */
import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import { unicastRoutes } from "../net/mesh/routes.ts";
import { SigningKey, verifySignature } from "../net/mesh/signing.ts";
import {
  encodeUpdate,
  ENTRY_DOMAIN,
  LIMITS,
  type PeerEntry,
  signedPart,
  signEntry,
} from "../net/mesh/topology.ts";
import { decodeUpdate } from "../net/mesh/topology_decode.ts";
import { DEFAULT_SLICE_CHECKS, DEFAULT_SLICE_RECORDS } from "../net/mesh/topology_gossip.ts";
import { STORE_LIMITS } from "../net/mesh/topology_store.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "7" } },
});
const runs = Number(values.runs);
const key = SigningKey.generate();
const name = (i: number) =>
  "02:00:" + [24, 16, 8, 0].map((s) => ((i >>> s) & 255).toString(16).padStart(2, "0")).join(":");
const sign = (b: Omit<PeerEntry, "key" | "signature">) =>
  signEntry(b, key.publicKey, (d, p) => key.sign(d, p));

/**
 * Median wall time and median CPU time (user + system of this process): on a machine shared
 * with other work the wall time includes waiting for a core, the CPU time does not.
 */
function median(f: () => void, before?: () => void): { wall: number; cpu: number } {
  const wall: number[] = [], cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    before?.();
    const c0 = cpuUsage(), t0 = performance.now();
    f();
    const c = cpuUsage(c0);
    wall.push(performance.now() - t0);
    cpu.push((c.user + c.system) / 1000);
  }
  const mid = (v: number[]) => v.sort((a, b) => a - b)[Math.floor(runs / 2)];
  return { wall: mid(wall), cpu: mid(cpu) };
}

// The most connection records one message can carry: full entries with the longest addresses.
const addr = "[fd00:1:2:3:4:5:6:7]:6783".padEnd(LIMITS.address, "0");
const wide: PeerEntry[] = [];
for (let i = 0, bytes = 3;; i++) {
  const size = 56 + 1 + LIMITS.nickname + 2 + LIMITS.connectionsPerPeer * (8 + addr.length) + 64;
  if (bytes + size > LIMITS.bytesPerMessage) break;
  bytes += size;
  wide.push(sign({
    name: name(i),
    nickname: "x".repeat(LIMITS.nickname),
    uid: "0000000000000001",
    version: 1,
    connections: Array.from({ length: LIMITS.connectionsPerPeer }, (_, j) => ({
      name: name(100_000 + j),
      address: addr,
      outbound: true,
      established: true,
    })),
  }));
}
const wideMsg = encodeUpdate(wide);
// The most entries one message can carry.
const many = Array.from({ length: LIMITS.entriesPerMessage }, (_, i) =>
  sign({
    name: name(i),
    nickname: "x".repeat(LIMITS.nickname),
    uid: "0000000000000001",
    version: 1,
    connections: [],
  }));
const manyMsg = encodeUpdate(many);

// The largest topology kept: STORE_LIMITS.peers peers, STORE_LIMITS.connections records.
const n = STORE_LIMITS.peers, degree = Math.floor(STORE_LIMITS.connections / n) - 2;
const adj = Array.from({ length: n }, () => new Set<number>());
let seed = 1;
const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
for (let i = 1; i < n; i++) {
  const j = Math.floor(rnd() * i);
  adj[i].add(j), adj[j].add(i);
}
for (let i = 0; i < n; i++) {
  while (adj[i].size < degree) {
    const j = Math.floor(rnd() * n);
    if (j !== i) adj[i].add(j), adj[j].add(i);
  }
}
const topo = new Map(adj.map((s, i) => [name(i), {
  name: name(i),
  connections: [...s].sort((a, b) => a - b).map((j) => ({
    name: name(j),
    address: "10.0.0.1:6783",
    outbound: true,
    established: true,
  })),
}]));
const records = [...topo.values()].reduce((a, e) => a + e.connections.length, 0);

let decoded: PeerEntry[] = [];
const rows: Array<[string, { wall: number; cpu: number }]> = [
  [
    `decode the widest message (${wideMsg.length} B, ${
      wide.length * LIMITS.connectionsPerPeer
    } records)`,
    median(() => decodeUpdate(wideMsg)),
  ],
  [
    `decode the longest message (${manyMsg.length} B, ${many.length} entries)`,
    median(() => decodeUpdate(manyMsg)),
  ],
  [
    `read one slice's connection records (${DEFAULT_SLICE_RECORDS})`,
    median(() => {
      let left = DEFAULT_SLICE_RECORDS;
      for (const e of decoded) if ((left -= e.connections.length) <= 0) break;
    }, () => (decoded = decodeUpdate(wideMsg))),
  ],
  [
    `one slice's signature checks (${DEFAULT_SLICE_CHECKS})`,
    median(() => {
      for (const e of many.slice(0, DEFAULT_SLICE_CHECKS)) {
        verifySignature(e.key, ENTRY_DOMAIN, signedPart(e), e.signature);
      }
    }),
  ],
  [
    `routes over the largest topology kept (${n} peers, ${records} records)`,
    median(() => unicastRoutes(name(0), (x) => topo.get(x))),
  ],
  [
    "one Ed25519 verification (the machine's pace)",
    median(() => {
      const e = many[0];
      verifySignature(e.key, ENTRY_DOMAIN, signedPart(e), e.signature);
    }),
  ],
];
console.log("| step | median wall ms | median CPU ms |\n|---|---:|---:|");
for (const [what, t] of rows) {
  console.log(`| ${what} | ${t.wall.toFixed(2)} | ${t.cpu.toFixed(2)} |`);
}
