import assert from "node:assert/strict";
import fc from "fast-check";
import { DEFAULT_HOPS, type MessageHeader, SLEEVE_FRAGMENT_HEADER } from "./format.ts";
import { SleeveKeyRing } from "./keys.ts";
import { hexToBytes, type SleevePeer, type SleeveStats, STAT, STAT_COUNT } from "./messages.ts";
import { type ReceiverOptions, SleeveReceiver, sourceOf } from "./receive.ts";
import { SleeveShared } from "./shared.ts";
import { createHash } from "node:crypto";
import { entry, messageDatagrams } from "./testing/wire.ts";
import type { SealKey } from "./compose.ts";
import { parseMac } from "../../addr/mod.ts";

const A = "02:77:00:00:00:01", B = "02:77:00:00:00:02", C = "02:77:00:00:00:03";
const SRC_A = sourceOf("192.168.77.1", 6783);
const SRC_C = sourceOf("192.168.77.3", 6783);
const DK = { id: new Uint8Array(8).fill(0x42), secret: new Uint8Array(32).fill(0x43) };
const peer = (name: string, addr: string): SleevePeer => ({
  name,
  addr,
  port: 6783,
  sleeve: true,
  macs: [],
  via: name,
  children: [],
});
const PEERS = [peer(A, "192.168.77.1"), peer(C, "192.168.77.3")];

interface Node {
  rx: SleeveReceiver;
  stats: Float64Array;
  shared: SleeveShared;
  /** Bodies handed on, by digest. */
  got: string[];
  /** A's keys towards B: own messages and relayed ones. */
  own: SealKey;
  relay: SealKey;
}

/** B receiving from A (and C), encrypted or not; `shared` survives a "restart". */
function node(encrypted: boolean, shared = new SleeveShared(), restored = false): Node {
  const stats = new Float64Array(STAT_COUNT);
  const got: string[] = [];
  const opts: ReceiverOptions = {
    self: B,
    encrypted,
    stats,
    tops: shared.tops,
    limits: { perSender: 8, total: 16, timeoutMs: 1000 },
    onMessage: (_buf, _h, body) => got.push(hex(body)),
  };
  const rx = new SleeveReceiver(opts);
  const mine = new SleeveKeyRing(B);
  mine.sync(new Map([[A, DK]]), 0);
  rx.setPeers(PEERS, encrypted ? mine.all() : [], restored);
  const theirs = new SleeveKeyRing(A);
  theirs.sync(new Map([[B, DK]]), 0);
  const tx = theirs.all()[0].tx!;
  const id = hexToBytes(tx.id);
  return { rx, stats, shared, got, own: { id, key: tx.key }, relay: { id, key: tx.relay } };
}

const stat = (n: Node, k: keyof SleeveStats) => n.stats[STAT[k]];

function header(n: { encrypted: boolean }, seq: number, over: Partial<MessageHeader> = {}) {
  return {
    encrypted: n.encrypted,
    sender: parseMac(A),
    keyId: new Uint8Array(8).fill(9),
    seq,
    origin: parseMac(A),
    dest: parseMac(B),
    hops: DEFAULT_HOPS,
    ...over,
  } satisfies MessageHeader;
}

/** The datagrams of one message from A to B (relayed: origin C, under the relay key). */
function send(
  n: Node,
  encrypted: boolean,
  seq: number,
  body: Uint8Array,
  relayed = false,
  seg = 1400,
) {
  const h = header({ encrypted }, seq, relayed ? { origin: parseMac(C) } : {});
  return messageDatagrams(h, [body], encrypted ? (relayed ? n.relay : n.own) : null, seg);
}

function feed(n: Node, ds: Uint8Array[], src = SRC_A, now = 0): void {
  for (const d of ds) n.rx.datagram(d, d.length, src, now);
}

for (const encrypted of [false, true]) {
  const mode = encrypted ? "sealed" : "unencrypted";

  Deno.test(`receive (${mode}): messages of one and many fragments, own and relayed, are handed on`, () => {
    const n = node(encrypted);
    const bodies = [entry(40, 1), entry(30_000, 2), entry(65_559, 3)];
    bodies.forEach((b, i) => feed(n, send(n, encrypted, 10 + i, b, i === 1)));
    assert.deepEqual(n.got, bodies.map(hex));
    assert.equal(n.rx.reassembler.pending, 0);
  });

  Deno.test(`receive (${mode}): unknown senders and the other mode are refused`, () => {
    const n = node(encrypted);
    feed(
      n,
      messageDatagrams(
        header({ encrypted }, 1, { sender: parseMac("02:77:00:00:00:09") }),
        [entry(40, 1)],
        encrypted ? n.own : null,
        1400,
      ),
    );
    assert.equal(stat(n, "rxUnknownSender"), 1);
    feed(n, send(n, !encrypted, 2, entry(40, 1)));
    assert.equal(stat(n, "rxWrongMode"), 1);
    assert.deepEqual(n.got, []);
  });
}

Deno.test("receive: a peer on another format version is counted as such (rolling upgrades)", () => {
  const n = node(false);
  const [d] = send(n, false, 1, entry(40, 1));
  d[37] = 0; // sleeve v3
  feed(n, [d]);
  assert.equal(stat(n, "rxWrongVersion"), 1);
  assert.equal(stat(n, "rxMalformed"), 0);
  assert.deepEqual(n.got, []);
});

Deno.test("receive (unencrypted): only from the address the sender's record gives (security M1)", () => {
  const n = node(false);
  const ds = send(n, false, 1, entry(3000, 1));
  feed(n, ds, SRC_C);
  feed(n, ds, sourceOf("198.18.0.99", 6783));
  assert.equal(stat(n, "rxWrongSource"), 2 * ds.length);
  assert.deepEqual(n.got, [], "nothing handed on, so no MAC is learned from it");
  assert.equal(n.rx.reassembler.pending, 0, "nothing buffered");
  feed(n, ds, SRC_A);
  feed(n, send(n, false, 2, entry(3000, 2)), sourceOf("192.168.77.1", 40000));
  assert.deepEqual(n.got, [hex(entry(3000, 1)), hex(entry(3000, 2))], "any port of that address");
});

Deno.test("receive (sealed): a forged fragment 0 fails its commit and nothing is buffered (security H1)", () => {
  const n = node(true);
  const ds = send(n, true, 5, entry(6000, 1));
  for (
    const at of [
      SLEEVE_FRAGMENT_HEADER + 1,
      SLEEVE_FRAGMENT_HEADER + 5,
      SLEEVE_FRAGMENT_HEADER + 25,
      36,
      39,
    ]
  ) {
    const forged = ds[0].slice();
    forged[at] ^= 1;
    feed(n, [forged]);
  }
  assert.equal(n.rx.reassembler.pending, 0, "nothing opened");
  feed(n, ds.slice(1));
  assert.equal(stat(n, "rxOrphan"), ds.length - 1, "the rest has no open message");
  assert.ok(stat(n, "rxAuthFailed") + stat(n, "rxMalformed") + stat(n, "rxBadShape") === 5);
  // Knowing the sender name and key id from a capture does not help (the review's attack).
  const d0 = new Uint8Array(SLEEVE_FRAGMENT_HEADER + 1000);
  d0.set(ds[0].subarray(0, SLEEVE_FRAGMENT_HEADER));
  d0[39] = 131;
  d0[40] = 1000 >> 8;
  d0[41] = 1000 & 0xff;
  feed(n, [d0]);
  assert.equal(n.rx.reassembler.pending, 0);
  feed(n, ds);
  assert.deepEqual(n.got, [hex(entry(6000, 1))], "the real message still arrives");
});

Deno.test("receive (sealed): replays and unknown keys are refused; a tampered later fragment fails the message", () => {
  const n = node(true);
  const one = send(n, true, 7, entry(40, 1));
  const many = send(n, true, 8, entry(5000, 2));
  feed(n, [...one, ...many, ...one, ...many]);
  assert.equal(n.got.length, 2);
  assert.equal(stat(n, "rxReplayed"), 2, "each message's replay refused at its first datagram");
  const other = node(true);
  other.own.id[0] ^= 1;
  feed(n, send(other, true, 9, entry(40, 1)));
  assert.equal(stat(n, "rxNoKey"), 1);
  const bad = send(n, true, 10, entry(5000, 3));
  bad[2][SLEEVE_FRAGMENT_HEADER + 7] ^= 0x80;
  feed(n, bad);
  assert.equal(stat(n, "rxAuthFailed"), 1);
  assert.equal(n.got.length, 2);
  feed(n, send(n, true, 10, entry(5000, 3)));
  assert.equal(n.got.length, 3, "the genuine message with that number still opens");
});

Deno.test("receive (sealed): a receiver restarted on the same shared state refuses what its predecessor accepted", () => {
  const shared = new SleeveShared();
  const first = node(true, shared);
  const old = [send(first, true, 100, entry(40, 1)), send(first, true, 101, entry(4000, 2), true)];
  for (const m of old) feed(first, m);
  assert.equal(first.got.length, 2);
  const again = node(true, shared, true);
  for (const m of old) feed(again, m);
  assert.equal(again.got.length, 0);
  assert.equal(stat(again, "rxReplayed"), 2);
  feed(again, send(again, true, 102, entry(40, 3)));
  assert.equal(again.got.length, 1, "new messages still open");
  // Without the restored windows (a fresh start) the same keys start afresh.
  const fresh = node(true, new SleeveShared());
  feed(fresh, old[0]);
  assert.equal(fresh.got.length, 1);
});

/**
 * The forged-datagram property (issue 13): valid traffic interleaved with every kind of header
 * corruption, replays, garbage and time passing. No input throws; reassembly memory stays within
 * its bounds; every valid message is handed on (sealed: exactly once, and nothing that A did not
 * seal is ever handed on).
 */
type Cmd =
  | { t: "valid"; size: number; relayed: boolean; seg: number }
  | {
    t: "forge";
    size: number;
    at: number;
    value: number;
    which: number;
    all: boolean;
    seg: number;
  }
  | { t: "cut"; size: number; which: number; keep: number }
  | { t: "replay"; k: number }
  | { t: "garbage"; bytes: Uint8Array; framed: boolean }
  | { t: "tick"; ms: number };

const SIZE = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 24, max: 4000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 4000, max: 65_559 }) },
);
const SEG = fc.constantFrom(1400, 600, 9000);
const CMD: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant("valid" as const),
      size: SIZE,
      relayed: fc.boolean(),
      seg: SEG,
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      t: fc.constant("forge" as const),
      size: SIZE,
      // Any byte of the header (every field), or one of the payload.
      at: fc.oneof(
        fc.integer({ min: 0, max: SLEEVE_FRAGMENT_HEADER - 1 }),
        fc.integer({ min: 0, max: 2000 }),
      ),
      value: fc.integer({ min: 0, max: 255 }),
      which: fc.nat(),
      all: fc.boolean(),
      seg: SEG,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("cut" as const),
      size: SIZE,
      which: fc.nat(),
      keep: fc.nat(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("replay" as const), k: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("garbage" as const),
      bytes: fc.uint8Array({ maxLength: 200 }),
      framed: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("tick" as const),
      ms: fc.integer({ min: 0, max: 1500 }),
    }),
  },
);

for (const encrypted of [false, true]) {
  Deno.test(`receive (${encrypted ? "sealed" : "unencrypted"}): ≥ 10k forged, replayed and valid datagrams — nothing throws, memory bounded, valid traffic arrives`, () => {
    let datagrams = 0;
    fc.assert(
      fc.property(fc.array(CMD, { minLength: 20, maxLength: 60 }), (cmds) => {
        const n = node(encrypted);
        const limits = n.rx.reassembler.limits;
        let now = 0;
        let validSeq = 2 ** 40;
        let forgeSeq = 1;
        const sealedBodies = new Set<string>();
        const valid: string[] = [];
        const history: Uint8Array[] = [];
        let fed = 0;
        const push = (ds: Uint8Array[], src = SRC_A) => {
          for (const d of ds) {
            n.rx.datagram(d, d.length, src, now);
            fed++;
            assert.ok(n.rx.reassembler.pending <= limits.total);
            assert.ok(n.rx.reassembler.buffers <= limits.total + 1);
          }
        };
        for (const c of cmds) {
          if (c.t === "valid") {
            const body = entry(c.size, 100 + (validSeq % 100)); // 100..199: no forged body's seed
            const ds = send(n, encrypted, validSeq++, body, c.relayed, c.seg);
            valid.push(hex(body));
            sealedBodies.add(hex(body));
            push(ds);
            history.push(...ds);
          } else if (c.t === "forge") {
            const body = entry(c.size, 0x55);
            sealedBodies.add(hex(body));
            const ds = send(n, encrypted, forgeSeq++, body, false, c.seg);
            const i = c.which % ds.length;
            const d = ds[i] = ds[i].slice();
            const at = c.at < SLEEVE_FRAGMENT_HEADER
              ? c.at
              : SLEEVE_FRAGMENT_HEADER + (c.at % Math.max(1, d.length - SLEEVE_FRAGMENT_HEADER));
            // Never a sequence number among the valid traffic's (that would be a real collision).
            d[at] = at === 16 || at === 17 ? c.value & 0x7f : c.value;
            if (at >= 16 && at <= 18) d[18] = 0;
            push(c.all ? ds : [d]);
          } else if (c.t === "cut") {
            const body = entry(c.size, 0x44);
            sealedBodies.add(hex(body)); // cut nowhere, it is the genuine message
            const ds = send(n, encrypted, forgeSeq++, body, false, 1400);
            const d = ds[c.which % ds.length];
            push([d.subarray(0, c.keep % (d.length + 1))]);
          } else if (c.t === "replay") {
            if (history.length) push([history[c.k % history.length]]);
          } else if (c.t === "garbage") {
            const g = new Uint8Array(SLEEVE_FRAGMENT_HEADER + c.bytes.length);
            g.set(c.bytes.subarray(0, g.length));
            if (c.framed) {
              g.set(send(n, encrypted, forgeSeq++, entry(24, 1))[0].subarray(0, 38));
              g[39] = 1 + (c.bytes[0] ?? 0);
              g[40] = (c.bytes.length >> 8) & 0xff;
              g[41] = c.bytes.length & 0xff;
            }
            push([g]);
          } else {
            now += c.ms;
            n.rx.expire(now);
            assert.ok(n.rx.reassembler.pending <= limits.total);
          }
        }
        const count = (xs: string[], x: string) => xs.filter((y) => y === x).length;
        for (const v of new Set(valid)) {
          if (encrypted) assert.equal(count(n.got, v), count(valid, v), "each valid message once");
          else assert.ok(count(n.got, v) >= count(valid, v), "each valid message arrives");
        }
        if (encrypted) {
          for (const g of n.got) assert.ok(sealedBodies.has(g), "only what A sealed is handed on");
          assert.equal(new Set(n.got).size, n.got.length, "nothing twice");
        }
        assert.equal(n.stats[STAT.rxDatagrams], fed);
        datagrams += fed;
      }),
      { numRuns: 250 },
    );
    console.log(`  ${datagrams} datagrams`);
    assert.ok(datagrams >= 10_000, `${datagrams} datagrams`);
  });
}

/** A body's identity for the comparisons above (bodies are up to 64 KiB). */
function hex(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}
