/**
 * IPAM benchmark: allocations and releases per second through the HTTP API on one node with the
 * SQLite store on (goal >= 5,000 allocations/s), against a baseline in the same run (the same
 * server answering a no-op route, i.e. the HTTP cost alone); and the cost of merging a gossiped
 * ring of 2,000 peers' entries. Appends the results, dated, to bench/RESULTS-ipam.md.
 *
 *   deno run -A bench/ipam_bench.ts [--count N] [--concurrency N] [--no-write]
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
  type RingAuth,
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
    concurrency: { type: "string" },
    "no-write": { type: "boolean" },
    // Internal: this file also runs as the load generator, in its own process (own core).
    client: { type: "string" },
    op: { type: "string" },
  },
});
const COUNT = Number(values.count ?? 5000);
const CONCURRENCY = Number(values.concurrency ?? 16);
const quiet = new Logger({ sink: { write() {} }, json: true });
const SELF = "0c:00:00:00:00:01";

/** Runs `n` requests made by `mk(i)` with CONCURRENCY in flight; returns requests per second. */
async function drive(n: number, mk: (i: number) => Promise<Response>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) {
      const r = await mk(next++);
      if (!r.ok) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
      await r.body?.cancel();
    }
  }));
  return n / ((performance.now() - t0) / 1000);
}

const OPS: Record<string, (base: string, i: number) => Promise<Response>> = {
  noop: (base, i) => fetch(`${base}/noop/c${i}`, { method: "POST" }),
  alloc: (base, i) => fetch(`${base}/ip/c${i}?ifname=eth0`, { method: "POST" }),
  release: (base, i) => fetch(`${base}/ip/c${i}?ifname=eth0`, { method: "DELETE" }),
};

/** Drives one operation from a separate process, as a CNI plugin on the node would. */
async function remote(base: string, op: string): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      ...["run", "-A", import.meta.filename!, "--client", base, "--op", op],
      ...["--count", `${COUNT}`, "--concurrency", `${CONCURRENCY}`],
    ],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`load generator for ${op} failed`);
  return Number(new TextDecoder().decode(out.stdout).trim());
}

/** The IPAM engine alone: the route handler called directly, no HTTP. */
async function directBench(routes: ApiRoute[]): Promise<number> {
  const post = routes.find((r) => r.method === "POST" && r.path === "/ip/:id")!;
  const t0 = performance.now();
  for (let i = 0; i < COUNT; i++) {
    const r = await post.handle(new Request(`http://x/ip/d${i}`, { method: "POST" }), {
      id: `d${i}`,
    });
    if (r.status !== 200) throw new Error(await r.text());
  }
  return COUNT / ((performance.now() - t0) / 1000);
}

async function httpBench(persist: boolean) {
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
    await remote(base, "noop"); // warm-up: the server's JIT, not measured
    const baseline = await remote(base, "noop");
    const alloc = await remote(base, "alloc");
    if (svc.allocations().length !== COUNT) throw new Error("allocations missing");
    const release = await remote(base, "release");
    const direct = await directBench(ipamRoutes(svc));
    return { baseline, alloc, release, direct };
  } finally {
    await server.shutdown();
    svc.stop();
    Deno.removeSync(dir, { recursive: true });
  }
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
  // Merge into a ring that has the initial split only: every donation is new, so each of its
  // 2,000 signatures is verified.
  t = performance.now();
  for (let i = 0; i < reps; i++) Ring.seeded(start, end, names, auth).merge(state);
  const mergeMs = (performance.now() - t) / reps;
  // The same message again (anti-entropy in steady state): nothing new, no signature checked.
  const steady = Ring.seeded(start, end, names, auth);
  steady.merge(state);
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
    mergeMs,
    againMs,
    receiveMs,
  };
}

if (values.client) {
  const op = OPS[values.op ?? ""];
  console.log(await drive(COUNT, (i) => op(values.client!, i)));
  Deno.exit(0);
}

const persisted = await httpBench(true);
const memory = await httpBench(false);
const merge = mergeBench();
const names2k = "2,000";
const f = (n: number) => Math.round(n).toLocaleString("en-US");
const pct = (n: number, run: { baseline: number }) => `${Math.round((100 * n) / run.baseline)} %`;
const report = `
## ${
  new Date().toISOString().slice(0, 16).replace("T", " ")
} UTC — ${COUNT} requests, ${CONCURRENCY} in flight

| HTTP API on one node | requests/s | vs the no-op route of the same run |
|---|---|---|
| SQLite on: no-op route (baseline: HTTP alone) | ${f(persisted.baseline)} | 100 % |
| SQLite on: POST /ip/{id} allocate | ${f(persisted.alloc)} | ${pct(persisted.alloc, persisted)} |
| SQLite on: DELETE /ip/{id} release | ${f(persisted.release)} | ${
  pct(persisted.release, persisted)
} |
| in memory: no-op route (baseline: HTTP alone) | ${f(memory.baseline)} | 100 % |
| in memory: POST /ip/{id} allocate | ${f(memory.alloc)} | ${pct(memory.alloc, memory)} |
| in memory: DELETE /ip/{id} release | ${f(memory.release)} | ${pct(memory.release, memory)} |
| POST /ip/{id} handler called directly (no HTTP), SQLite on | ${f(persisted.direct)} | — |
| POST /ip/{id} handler called directly (no HTTP), in memory | ${f(memory.direct)} | — |

The load generator runs in its own process (as CNI plugins do), ${CONCURRENCY} requests in flight.
Goal >= 5,000 allocations/s with persistence on: **${persisted.alloc >= 5000 ? "met" : "NOT met"}**.

| ring of 2,000 peers (${merge.entries} entries, ${
  f(merge.bytes)
} bytes gossiped) | ms per message |
|---|---|
| JSON.parse of the message (baseline) | ${merge.parseMs.toFixed(2)} |
| Ring.merge, every donation new (${names2k} signatures verified) | ${merge.mergeMs.toFixed(2)} |
| Ring.merge of the same message again (nothing new, nothing verified) | ${
  merge.againMs.toFixed(2)
} |
| full receive path: decode + validation + merge + persist hook + re-encode for forwarding | ${
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
