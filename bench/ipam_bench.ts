/**
 * IPAM benchmark (issue 12/15): allocations and releases per second through the HTTP API on one
 * node, with the signed ring and the SQLite store on, against a no-op route of the same server
 * (the HTTP cost alone), measured in interleaved rounds (the order alternates each round) so
 * that the machine's noise hits both alike; per round the ratio to that round's no-op rate, then
 * the median and the range over rounds, and a verdict for the goal (>= 0.9x the no-op route):
 * "met" when every round is at or above it, "not met" when every round is below, otherwise "not
 * distinguishable at this noise". Also the cost of merging a gossiped 2,000-peer ring whose
 * donations are all new (every signature verified) and of the same message again. Appends the
 * results, dated, to bench/RESULTS-ipam.md.
 *
 *   deno task bench:ipam [--count N] [--rounds N] [--concurrency N] [--no-write]
 */
import { parseArgs } from "node:util";
import { Registry } from "../net/api/metrics.ts";
import type { ApiRoute } from "../net/api/route.ts";
import { startApiServer } from "../net/api/server.ts";
import { Logger } from "../net/log.ts";
import { Allocator } from "../net/ipam/allocator.ts";
import { Ring } from "../net/ipam/ring.ts";
import { createIpam } from "../net/ipam/component.ts";
import { ipamRoutes } from "../net/ipam/http.ts";
import { FakeNetwork } from "../net/ipam/testing/fake_mesh.ts";
import { encodeGossip, IPAM_WIRE_VERSION } from "../net/ipam/wire.ts";
import {
  type Entry,
  MAX_VERIFY_PER_MERGE,
  type RingAuth,
  sigFromText,
  sigToText,
  TOKEN_DOMAIN,
  tokenBytes,
} from "../net/ipam/token.ts";
import { TestKeyring } from "../net/mesh/testing/keyring.ts";
import { parseCidr } from "../net/addr/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    count: { type: "string" },
    rounds: { type: "string" },
    concurrency: { type: "string" },
    "no-write": { type: "boolean" },
    // Internal: this file also runs as the load generator, in its own process (own core).
    client: { type: "string" },
    op: { type: "string" },
  },
});
const COUNT = Number(values.count ?? 300);
const ROUNDS = Number(values.rounds ?? 16);
/** The goal: allocate and release at >= this fraction of the no-op route's rate. */
const GOAL = 0.9;
const CONCURRENCY = Number(values.concurrency ?? 16);
const quiet = new Logger({ sink: { write() {} }, json: true });
const SELF = "0c:00:00:00:00:01";

/** Runs `n` requests made by `mk(i)` with CONCURRENCY in flight; returns requests per second. */
async function drive(
  n: number,
  mk: (i: number) => Promise<Response>,
  offset = 0,
): Promise<number> {
  let next = offset;
  n += offset;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) {
      const r = await mk(next++);
      if (!r.ok) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
      await r.body?.cancel();
    }
  }));
  return (n - offset) / ((performance.now() - t0) / 1000);
}

/**
 * The load generator's part: ROUNDS pairs of blocks of COUNT requests, a no-op block next to an
 * allocate block (which goes first alternates), then the same with release blocks. Adjacent
 * blocks see the same machine, so their ratio is what the noise leaves comparable.
 */
async function pairs(base: string) {
  const out = {
    noopA: [] as number[],
    alloc: [] as number[],
    noopR: [] as number[],
    release: [] as number[],
  };
  let noopIds = 0;
  const noop = async () => {
    const r = await drive(COUNT, (i) => OPS.noop(base, i), noopIds);
    noopIds += COUNT;
    return r;
  };
  for (
    const [op, into, noops] of [
      ["alloc", out.alloc, out.noopA],
      ["release", out.release, out.noopR],
    ] as const
  ) {
    for (let r = 0; r < ROUNDS; r++) {
      const run = () => drive(COUNT, (i) => OPS[op](base, i), r * COUNT);
      if (r % 2 === 0) {
        noops.push(await noop());
        into.push(await run());
      } else {
        into.push(await run());
        noops.push(await noop());
      }
    }
  }
  return out;
}

const OPS: Record<string, (base: string, i: number) => Promise<Response>> = {
  noop: (base, i) => fetch(`${base}/noop/c${i}`, { method: "POST" }),
  alloc: (base, i) => fetch(`${base}/ip/c${i}?ifname=eth0`, { method: "POST" }),
  release: (base, i) => fetch(`${base}/ip/c${i}?ifname=eth0`, { method: "DELETE" }),
};

/** Drives the load from a separate process, as CNI plugins on the node would. */
async function remote(base: string, op: string): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      ...["run", "-A", import.meta.filename!, "--client", base, "--op", op],
      ...["--count", `${COUNT}`, "--rounds", `${ROUNDS}`, "--concurrency", `${CONCURRENCY}`],
    ],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`load generator for ${op} failed`);
  return new TextDecoder().decode(out.stdout).trim();
}

/** The IPAM engine alone: the route handler called directly, no HTTP. */
async function directBench(routes: ApiRoute[]): Promise<number> {
  const post = routes.find((r) => r.method === "POST" && r.path === "/ip/:id")!;
  const n = COUNT * ROUNDS;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = await post.handle(new Request(`http://x/ip/d${i}`, { method: "POST" }), {
      id: `d${i}`,
    });
    if (r.status !== 200) throw new Error(await r.text());
  }
  return n / ((performance.now() - t0) / 1000);
}

interface Rounds {
  noopA: number[];
  alloc: number[];
  noopR: number[];
  release: number[];
  direct: number;
}

async function httpBench(persist: boolean): Promise<Rounds> {
  const dir = Deno.makeTempDirSync({ prefix: "weavets-ipam-bench-" });
  const net = new FakeNetwork();
  const svc = createIpam({
    range: "10.32.0.0/12",
    init: `seed=${SELF}`,
    datadir: persist ? dir : null,
    mesh: net.join(SELF, "bench"),
    registry: new Registry(),
    log: quiet,
  });
  const noop: ApiRoute = { method: "POST", path: "/noop/:id", handle: () => new Response("ok") };
  const server = startApiServer({
    addr: "127.0.0.1:0",
    routes: [...ipamRoutes(svc), noop],
    log: quiet,
  });
  const base = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  try {
    await remote(base, "warm"); // the server's JIT, not measured
    const out: Rounds = { ...JSON.parse(await remote(base, "pairs")), direct: 0 };
    if (svc.allocations().length !== 0) throw new Error("releases missing");
    out.direct = await directBench(ipamRoutes(svc));
    return out;
  } finally {
    await server.shutdown();
    svc.stop();
    Deno.removeSync(dir, { recursive: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Per pair the ratio to the adjacent no-op block; the median and its ~95 % confidence interval
 * (order statistics: distribution-free), the range, and the verdict from the interval.
 */
function ratios(op: number[], noop: number[]) {
  const rs = op.map((x, i) => x / noop[i]).sort((a, b) => a - b);
  const k = Math.max(0, Math.floor(rs.length / 2 - 0.98 * Math.sqrt(rs.length)));
  const lo = rs[k], hi = rs[rs.length - 1 - k];
  const verdict = lo >= GOAL ? "met" : hi < GOAL ? "not met" : "not distinguishable at this noise";
  return { median: median(rs), lo, hi, min: rs[0], max: rs[rs.length - 1], verdict };
}

/** Merge cost: a peer receives the full ring of a 2,000-peer cluster after 2,000 donations. */
function mergeBench() {
  const range = parseCidr("10.32.0.0/12");
  const names = Array.from(
    { length: 2000 },
    (_, i) =>
      `0d:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${
        (i & 255).toString(16).padStart(2, "0")
      }`,
  );
  const start = range.ip, end = start + 2 ** 20;
  // Every peer donates the last 64 addresses of its share to the next one, each signing its own
  // donation (the split at version 0, then version 1 naming the recipient, which is what remains).
  const keyring = new TestKeyring();
  const seeded = Ring.seeded(start, end, names);
  const scope = seeded.scope;
  const entries: Entry[] = [...seeded.entries()];
  for (const [i, name] of names.entries()) {
    const s = seeded.ownedBy(name)[0];
    const body = {
      start: s.end - 64,
      owner: names[(i + 1) % names.length],
      version: 1,
      takeover: false,
      author: name,
    };
    const sig = keyring.key(name).sign(TOKEN_DOMAIN, tokenBytes(scope, body));
    entries.push({ ...body, sig: sigToText(sig) });
  }
  entries.sort((x, y) => x.start - y.start);
  const state = { seed: seeded.seed!, entries };
  const bytes = encodeGossip({
    v: IPAM_WIRE_VERSION,
    range: "10.32.0.0/12",
    ring: state,
    free: {},
  });
  const view = keyring.view(names[0]);
  const auth: RingAuth = {
    self: names[0],
    sign: (p) => view.sign(TOKEN_DOMAIN, p),
    verify: (a, p, sg) => view.verify(a, TOKEN_DOMAIN, p, sg),
    reachable: () => true,
  };
  const reps = 50;
  // Baseline: parsing the message's JSON alone.
  let t = performance.now();
  for (let i = 0; i < reps; i++) JSON.parse(new TextDecoder().decode(bytes));
  const parseMs = (performance.now() - t) / reps;
  // One signature check alone (the unit of what a merge spends).
  const sample = entries.find((e) => e.sig !== "")!;
  const sampleBytes = tokenBytes(scope, sample), sampleSig = sigFromText(sample.sig);
  t = performance.now();
  for (let i = 0; i < 2000; i++) auth.verify(sample.author, sampleBytes, sampleSig);
  const verifyUs = (1000 * (performance.now() - t)) / 2000;
  // A ring that has the initial split only receives the message: every donation is new; one
  // merge checks at most MAX_VERIFY_PER_MERGE, the next messages the rest.
  let firstMs = 0, allMs = 0, messages = 0;
  for (let i = 0; i < reps / 10; i++) {
    const r = Ring.seeded(start, end, names, auth);
    t = performance.now();
    r.merge(state);
    firstMs += performance.now() - t;
    let n = 1;
    while (r.merge(state).deferred > 0) n++;
    allMs += performance.now() - t;
    messages = n + 1;
  }
  firstMs /= reps / 10;
  allMs /= reps / 10;
  // The same message again once all is known (anti-entropy in steady state): nothing checked.
  const steady = Ring.seeded(start, end, names, auth);
  while (steady.merge(state).deferred > 0);
  t = performance.now();
  for (let i = 0; i < reps; i++) steady.merge(state);
  const againMs = (performance.now() - t) / reps;
  // The whole receive path: decode + validate (zod) + merge + persist hook.
  const mem = { saveMeta() {}, putAllocation() {}, deleteAllocations() {} };
  const receivers = Array.from({ length: reps }, () =>
    new Allocator({
      self: names[0],
      range,
      init: { kind: "seed", members: names },
      persist: mem,
      signer: view,
      now: () => 0,
      random: Math.random,
    }));
  t = performance.now();
  for (const a of receivers) a.onGossip(names[1], bytes);
  const receiveMs = (performance.now() - t) / reps;
  return {
    entries: state.entries.length,
    bytes: bytes.length,
    parseMs,
    verifyUs,
    firstMs,
    allMs,
    messages,
    againMs,
    receiveMs,
  };
}

if (values.client) {
  const base = values.client;
  if (values.op === "warm") {
    await drive(COUNT, (i) => OPS.noop(base, i));
    await drive(COUNT, (i) => OPS.alloc(base, 1e6 + i));
    await drive(COUNT, (i) => OPS.release(base, 1e6 + i));
  } else console.log(JSON.stringify(await pairs(base)));
  Deno.exit(0);
}

const persisted = await httpBench(true);
const memory = await httpBench(false);
const merge = mergeBench();
const f = (n: number) => Math.round(n).toLocaleString("en-US");
const x = (n: number) => `${n.toFixed(2)}×`;
const rate = (xs: number[]) => `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;
const row = (name: string, run: Rounds, op: "alloc" | "release") => {
  const noop = op === "alloc" ? run.noopA : run.noopR;
  const r = ratios(run[op], noop);
  return `| ${name} | ${rate(run[op])} | ${rate(noop)} | ${x(r.median)} [${x(r.lo)}, ${x(r.hi)}] (${
    x(r.min)
  }–${x(r.max)}) | **${r.verdict}** |`;
};
const load = Deno.loadavg().map((l) => l.toFixed(1)).join(" ");
const report = `
## ${
  new Date().toISOString().slice(0, 16).replace("T", " ")
} UTC — ${ROUNDS} pairs of blocks of ${COUNT} requests per operation, ${CONCURRENCY} in flight

Load average at the end: ${load} (${navigator.hardwareConcurrency} cores, shared with other jobs).

| HTTP API on one node, signed ring | requests/s: median (range) | adjacent no-op blocks: median (range) | ratio: median [~95 % CI] (range) | goal ≥ ${GOAL}× |
|---|---|---|---|---|
${row("SQLite on: POST /ip/{id} allocate", persisted, "alloc")}
${row("SQLite on: DELETE /ip/{id} release", persisted, "release")}
${row("in memory: POST /ip/{id} allocate", memory, "alloc")}
${row("in memory: DELETE /ip/{id} release", memory, "release")}

POST /ip/{id} handler called directly (no HTTP, one at a time): ${
  f(persisted.direct)
}/s with SQLite,
${f(memory.direct)}/s in memory. Allocating inside this peer's own space signs and verifies nothing;
signatures are made when space moves (a donation, a split, rmpeer) and checked when a peer's ring
brings states that are new to the receiver:

| ring of 2,000 peers (${merge.entries} entries, ${
  f(merge.bytes)
} bytes gossiped) | ms per message |
|---|---|
| JSON.parse of the message (baseline) | ${merge.parseMs.toFixed(2)} |
| one signature check (Ed25519, node:crypto) | ${(merge.verifyUs / 1000).toFixed(3)} |
| Ring.merge, every donation new: the first message (${MAX_VERIFY_PER_MERGE} checks, the budget) | ${
  merge.firstMs.toFixed(2)
} |
| Ring.merge, every donation new: all ${merge.messages} messages until all 2,000 are checked | ${
  merge.allMs.toFixed(2)
} |
| Ring.merge of the same message once all is known (nothing checked, nothing recomputed) | ${
  merge.againMs.toFixed(2)
} |
| full receive path of the first message: decode + validation + merge + persist hook + re-encode | ${
  merge.receiveMs.toFixed(2)
} |
`;
console.log(report);
if (!values["no-write"]) {
  const path = new URL("./RESULTS-ipam.md", import.meta.url);
  let existing = "";
  try {
    existing = Deno.readTextFileSync(path);
  } catch {
    existing = "# IPAM benchmark results\n\nProduced by `deno run -A bench/ipam_bench.ts`. " +
      "Machines are shared (2 busy cores): compare the ratios, not the absolute numbers.\n";
  }
  Deno.writeTextFileSync(path, existing + report);
}
