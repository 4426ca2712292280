/**
 * Gossip at scale, simulated (net/mesh/testing/gossip_sim.ts): one peer joins an N-peer mesh;
 * how long until everyone knows it and can route to it, the bytes it cost, and what verifying
 * every entry's signature cost.
 *
 *   deno run -A bench/gossip_sim.ts [--sizes 100,500,1000,2000] [--seed 1] [--write]
 */
import { parseArgs } from "node:util";
import { ANTI_ENTROPY_FANOUT, DEFAULT_MESH_TIMING } from "../net/mesh/router.ts";
import { type SimResult, simulateJoin } from "../net/mesh/testing/gossip_sim.ts";

const OPTS = {
  antiEntropyFanout: ANTI_ENTROPY_FANOUT,
  antiEntropyMs: DEFAULT_MESH_TIMING.antiEntropyMs,
};

export function table(results: SimResult[]): string {
  const head = [
    "| peers | avg degree | join known by all (ms) | routable by all (ms) | messages | bytes total | bytes/peer | bytes total / (n log2 n) | max bytes at one peer | anti-entropy bytes/s per peer | verifications | µs per verification | verifications per message | most in one task | newcomer's verification (ms) | wall (s) |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const rows = results.map((r) =>
    `| ${r.peers} | ${r.avgDegree.toFixed(1)} | ${r.knownAllMs.toFixed(0)} | ${
      r.routableAllMs.toFixed(0)
    } | ${r.messages} | ${r.totalBytes} | ${r.bytesPerPeer.toFixed(0)} | ${
      (r.totalBytes / (r.peers * Math.log2(r.peers))).toFixed(1)
    } | ${r.maxBytesOnePeer} | ${r.antiEntropyBytesPerSec.toFixed(0)} | ${r.verifications} | ${
      r.verifyUs.toFixed(0)
    } | ${r.verificationsPerMessage.toFixed(2)} | ${r.maxVerificationsOneTask} | ${
      r.newcomerVerifyMs.toFixed(0)
    } | ${(r.wallMs / 1000).toFixed(1)} |`
  );
  return [...head, ...rows].join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      sizes: { type: "string", default: "100,500,1000,2000" },
      seed: { type: "string", default: "1" },
      write: { type: "boolean", default: false },
    },
    strict: true,
  });
  const sizes = values.sizes.split(",").map(Number);
  const results = sizes.map((n) => simulateJoin(n, Number(values.seed), OPTS));
  for (const r of results) {
    if (r.dropped > 0) throw new Error(`${r.dropped} honest entries dropped at ${r.peers} peers`);
  }
  const t = table(results);
  console.log(t);
  if (values.write) {
    const date = new Date().toISOString().slice(0, 10);
    const doc = `# Mesh: gossip simulation

Measured ${date} with \`deno run -A bench/gossip_sim.ts --write\` (seed ${values.seed}). One
peer joins an N-peer mesh by connecting to one existing peer; the product's topology store, key
registry, verifying topology channel and gossip code run over a simulated network (per-link
latency uniform 1–50 ms, plus size at 1 Gbit/s). Every entry a peer takes in is signed by its
author and verified (Ed25519, node:crypto); a peer is kept busy for the measured mean cost of each
verification, so verification is in the times. "Known" is when the last peer holds the
newcomer's entry; "routable" is when the last peer also holds the updated entry of the peer it
connected to, so the connection is symmetric and routes reach the newcomer. Bytes are every gossip
message sent for the join, including the newcomer's initial full state (the whole topology, which
dominates). Verification columns: all verifications during the join, their measured mean cost,
per topology message received, the most in one task (a message, or a deferred slice: the bound
on how long verification holds the event loop), and the newcomer's verification of the whole
topology (one core).

The "anti-entropy" column is the steady state, not the join: every ${
      OPTS.antiEntropyMs / 1000
    } s each peer sends a digest of its topology (22 bytes per peer) to ${OPTS.antiEntropyFanout} neighbours,
which answer with only the entries it lacks (nothing, once converged).

Goal: known everywhere within 2 s of simulated time at 2,000 peers; total bytes no faster than
O(n log n) (the \`/ (n log2 n)\` column stays flat or falls).

${t}
`;
    Deno.writeTextFileSync(new URL("./RESULTS-mesh.md", import.meta.url), doc);
  }
}
