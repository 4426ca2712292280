/**
 * Issue 12, "parsing ... never block the event loop for more than ~50 ms", for IPAM: a peer that
 * knows only the initial split of a 2,000-peer ring receives the whole ring (tests/ipam/big_ring.ts:
 * 4,000 tokens, 2,000 signatures to check), through the allocator as the daemon runs it, with the
 * SQLite store. A loop monitor (net/mesh/testing/loop_monitor.ts) records the longest turn of the
 * event loop in this thread's CPU time (the bound: a shared machine stretches wall time) and in
 * wall time (reported).
 *
 * Where the time goes (printed, not asserted): decoding the message, the signature checks, the
 * rest of the merge (admission, chains, recompute), the store write, the message passed on.
 * Negative control: the same message merged unsliced (every check in the handler) exceeds the
 * bound — so the monitor sees a long turn, and slicing is what keeps the sliced path under it.
 * Both paths must end with the whole ring (the sliced one without a second message).
 */
import assert from "node:assert/strict";
import { Allocator, type AllocatorOptions } from "../../net/ipam/allocator.ts";
import { Ring } from "../../net/ipam/ring.ts";
import { IpamStore } from "../../net/ipam/store.ts";
import {
  decodeGossip,
  encodeGossip,
  encodeMeta,
  IPAM_WIRE_VERSION,
  MAX_IPAM_MESSAGE_BYTES,
  MAX_RING_ENTRIES,
} from "../../net/ipam/wire.ts";
import { MAX_BACKLOG } from "../../net/ipam/ring_slices.ts";
import {
  type Entry,
  MAX_VERIFY_PER_MERGE,
  type RingAuth,
  sigFromText,
  sigToText,
  TOKEN_DOMAIN,
  tokenBytes,
} from "../../net/ipam/token.ts";
import { monitorLoop, threadCpuMs } from "../../net/mesh/testing/loop_monitor.ts";
import { bigRing } from "./big_ring.ts";

/**
 * The bound of issue 12 ("~50 ms"), in CPU time of one turn of the loop. The sliced paths' worst
 * turns are 12–25 ms here; a major GC landing in a turn has added ~25 ms under load (one CI run
 * saw 46 ms), so the assertion is the goal itself, not a tighter margin.
 */
const BOUND_MS = 50;

const big = bigRing();
const self = big.names[7];

function cpuMs<T>(f: () => T): [T, number] {
  const c0 = threadCpuMs();
  const r = f();
  return [r, threadCpuMs() - c0];
}

/**
 * Receives the big ring until it is all taken in; `slicing: null` is the path before slicing
 * (MAX_VERIFY_PER_MERGE checks per message, no deferred slices): only its first message is
 * taken, the rest would wait for anti-entropy.
 */
async function receive(
  slicing: NonNullable<AllocatorOptions["slicing"]> | null,
  bytes = big.bytes,
  done = (a: Allocator) =>
    a.ring.entries().length >= (slicing ? big.entries.length : big.names.length + 1),
) {
  const dir = await Deno.makeTempDir({ prefix: "ipam-loop-" });
  const store = new IpamStore(dir, big.range, self);
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let slices = 0;
  const a = new Allocator({
    self,
    range: big.range,
    init: { kind: "seed", members: big.names },
    persist: store,
    signer: big.keyring.view(self),
    now: () => Date.now(),
    random: Math.random,
    slicing: slicing === null ? undefined : {
      ...slicing,
      defer: (fn, pauseMs) => {
        const t = setTimeout(() => {
          timers.delete(t);
          slices++;
          fn();
        }, pauseMs);
        timers.add(t);
      },
    },
  });
  const mon = monitorLoop();
  const t0 = performance.now();
  try {
    await new Promise((r) => setTimeout(r, 20));
    setTimeout(() => a.onGossip(big.names[1], bytes), 0);
    for (let waited = 0; !done(a) || timers.size > 0; waited += 20) {
      if (waited > 60_000) throw new Error("the message was not taken in within 60 s");
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    for (const t of timers) clearTimeout(t);
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
  const loop = mon.stop();
  const badSignatures = a.refused.get("bad-signature") ?? 0;
  const entries = a.ring.entries().length;
  return { ...loop, slices, joinMs: performance.now() - t0, entries, badSignatures };
}

/**
 * Each phase of one unsliced receive, in this thread's CPU ms (one run: indicative): decoding,
 * the 2,000 signature checks alone, the merge with checks stubbed out (admission, chains,
 * recompute), the persisted form built and encoded, and its write to SQLite.
 */
async function phases() {
  const view = big.keyring.view(self);
  const auth = (check: boolean): RingAuth => ({
    self,
    sign: (p) => view.sign(TOKEN_DOMAIN, p),
    verify: (author, p, sig) => check ? view.verify(author, TOKEN_DOMAIN, p, sig) : "valid",
    reachable: () => true,
  });
  const [g, decodeMs] = cpuMs(() => decodeGossip(big.bytes));
  const ring = Ring.seeded(big.range.ip, big.range.ip + 2 ** 20, big.names, auth(false));
  const signed = g.ring!.entries.filter((e) => e.sig !== "");
  const check = auth(true);
  const [, verifyMs] = cpuMs(() => {
    for (const e of signed) check.verify(e.author, tokenBytes(ring.scope, e), sigFromText(e.sig));
  });
  const [, mergeMs] = cpuMs(() => ring.merge(g.ring!, big.names[1], { maxChecks: Infinity }));
  const [meta, encodeMs] = cpuMs(() => ({ ring: ring.state(), paxos: null }));
  const dir = await Deno.makeTempDir({ prefix: "ipam-loop-" });
  const store = new IpamStore(dir, big.range, self);
  const [, storeMs] = cpuMs(() => store.saveMeta(meta));
  store.close();
  await Deno.remove(dir, { recursive: true });
  return {
    decodeMs,
    checks: signed.length,
    verifyMs,
    perCheckUs: (1000 * verifyMs) / signed.length,
    mergeWithoutChecksMs: mergeMs,
    stateMs: encodeMs,
    storeWriteMs: storeMs,
    metaBytes: encodeMeta(meta).length,
  };
}

const fmt = (o: Record<string, number>) =>
  Object.entries(o).map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(1)}`).join(" ");

Deno.test("event loop: a peer joining a 2,000-peer ring takes it in slices, no turn over 50 ms CPU; unsliced, one turn is over it", async () => {
  console.log(
    `message: ${big.bytes.length} bytes, ${big.entries.length} tokens; load ${Deno.loadavg()[0]}`,
  );
  console.log(`phases (CPU ms, all checks at once): ${fmt(await phases())}`);
  const before = await receive(null);
  console.log(`before (first message, 256 checks): ${fmt(before)}`);
  const sliced = await receive({});
  console.log(`sliced:   ${fmt(sliced)}`);
  const unsliced = await receive({ sliceChecks: Infinity, sliceBudgetMs: Infinity });
  console.log(`unsliced: ${fmt(unsliced)}`);
  assert.equal(sliced.entries, big.entries.length);
  assert.equal(unsliced.entries, big.entries.length);
  assert.ok(sliced.slices >= 2, `the checks did not need slices (${sliced.slices})`);
  assert.ok(
    sliced.worstCpuMs < BOUND_MS,
    `a turn of the sliced path took ${sliced.worstCpuMs.toFixed(1)} ms CPU`,
  );
  assert.ok(
    unsliced.worstCpuMs > BOUND_MS,
    `the unsliced control took only ${unsliced.worstCpuMs.toFixed(1)} ms CPU: the monitor or the ` +
      `message is too small to show anything`,
  );
});

/**
 * The largest message peers take (wire.ts: MAX_RING_ENTRIES current states, and links up to
 * MAX_IPAM_MESSAGE_BYTES), forged so that every state costs a signature check: each claims
 * to be signed by the owner of the space it splits, with a signature over other bytes.
 */
function largestForged(): Uint8Array {
  const genesis = big.entries.filter((e) => e.sig === "");
  const bad = sigToText(big.keyring.key(self).sign(TOKEN_DOMAIN, new Uint8Array(8)));
  const forged = (i: number): Entry => {
    const g = genesis[i % genesis.length];
    return {
      start: g.start + 1 + Math.floor(i / genesis.length),
      owner: self,
      version: 1,
      takeover: false,
      author: g.owner,
      sig: bad,
    };
  };
  const encode = (entries: Entry[], links: Entry[]) =>
    encodeGossip({
      v: IPAM_WIRE_VERSION,
      range: "10.32.0.0/12",
      ring: { seed: big.seed, entries: [...entries].sort((a, b) => a.start - b.start), links },
      free: {},
    });
  const base = encode(genesis, []).length;
  const per = encode(genesis, [forged(0)]).length - base;
  const k = Math.floor((MAX_IPAM_MESSAGE_BYTES - base) / per) - 2;
  const n = Math.min(MAX_RING_ENTRIES - genesis.length, k);
  const links = Array.from({ length: Math.min(MAX_RING_ENTRIES, k - n) }, (_, i) => forged(n + i));
  return encode([...genesis, ...Array.from({ length: n }, (_, i) => forged(i))], links);
}

Deno.test("event loop: the largest forged message peers take costs no turn over 50 ms CPU, and a bounded backlog", async () => {
  const bytes = largestForged();
  assert.ok(bytes.length <= MAX_IPAM_MESSAGE_BYTES, `${bytes.length} bytes`);
  const [, decodeMs] = cpuMs(() => decodeGossip(bytes));
  const r = await receive({}, bytes, (a) => (a.refused.get("bad-signature") ?? 0) > 0);
  console.log(
    `largest forged: ${bytes.length} bytes, decode ${decodeMs.toFixed(1)} ms CPU; ${fmt(r)}`,
  );
  assert.equal(r.entries, big.names.length, "nothing forged was applied");
  assert.ok(r.badSignatures <= MAX_BACKLOG + MAX_VERIFY_PER_MERGE, `${r.badSignatures} checked`);
  assert.ok(r.worstCpuMs < BOUND_MS, `a turn took ${r.worstCpuMs.toFixed(1)} ms CPU`);
  // Negative controls: one state more than the cap, one byte more: refused before any merge.
  const entry = [1, "a", 1, 0, "a", ""];
  const ring = (n: number) => ({ seed: big.seed, entries: Array(n).fill(entry) });
  const json = (n: number) =>
    new TextEncoder().encode(
      JSON.stringify({ v: 2, range: "10.32.0.0/12", free: {}, ring: ring(n) }),
    );
  assert.equal(decodeGossip(json(MAX_RING_ENTRIES)).ring!.entries.length, MAX_RING_ENTRIES);
  assert.throws(() => decodeGossip(json(MAX_RING_ENTRIES + 1)), /more than 32768/);
  const padded = new Uint8Array(MAX_IPAM_MESSAGE_BYTES + 1).fill(0x20);
  padded.set(json(1));
  assert.throws(() => decodeGossip(padded), /more than the 4194304/);
});
