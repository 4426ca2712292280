import assert from "node:assert/strict";
import type { GossipChannel } from "./gossip_channel.ts";
import { PeerKeys } from "./keys.ts";
import { SigningKey } from "./signing.ts";
import { TestKeyring } from "./testing/keyring.ts";
import {
  type ConnectionRecord,
  encodeUpdate,
  entryBytes,
  type PeerEntry,
  signEntry,
} from "./topology.ts";
import { decodeUpdate } from "./topology_decode.ts";
import {
  decodeDigest,
  DEFAULT_SLICE_BUDGET_MS,
  slicePause,
  type TopologyDrop,
  TopologyGossip,
} from "./topology_gossip.ts";
import { TopologyStore } from "./topology_store.ts";
import { TopologyDecodeError } from "./topology.ts";

const ring = new TestKeyring();
const name = (i: number) =>
  `02:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${
    (i & 255).toString(16).padStart(2, "0")
  }`;
const rec = (n: number): ConnectionRecord => ({
  name: name(n),
  address: `10.0.${n >> 8}.${n & 255}:6783`,
  outbound: true,
  established: true,
});
const entry = (n: number, version: number, conns: number[] = [], signer = ring.key(name(n))) =>
  signEntry(
    {
      name: name(n),
      nickname: `p${n}`,
      uid: "00000000000000a1",
      version,
      connections: conns.map(rec),
    },
    signer.publicKey,
    (d, p) => signer.sign(d, p),
  );

interface Peer {
  store: TopologyStore;
  keys: PeerKeys;
  gossip: TopologyGossip;
  drops: Array<[TopologyDrop, string | undefined]>;
  deferred: Array<() => void>;
  /** The pause asked for with each deferral. */
  pauses: number[];
  broadcasts: PeerEntry[][];
}

function peer(
  n: number,
  opts: {
    kubeAuthority?: boolean;
    maxPending?: number;
    inlineRecords?: number;
    inlineParseBytes?: number;
    maxParseBacklogBytes?: number;
    /** The budgets' clock: still unless a test moves it. */
    clock?: () => number;
  } = {},
): Peer {
  const signer = ring.key(name(n));
  const store = new TopologyStore(
    { name: name(n), nickname: `p${n}`, uid: "00000000000000b1" },
    signer,
  );
  const keys = new PeerKeys({
    self: name(n),
    selfKey: signer.publicKey,
    kubeAuthority: opts.kubeAuthority,
  });
  const p: Peer = {
    store,
    keys,
    drops: [],
    deferred: [],
    pauses: [],
    broadcasts: [],
    gossip: undefined as unknown as TopologyGossip,
  };
  p.gossip = new TopologyGossip({
    store,
    keys,
    now: () => 1,
    defer: (fn, pauseMs) => {
      p.deferred.push(fn);
      p.pauses.push(pauseMs);
    },
    maxPending: opts.maxPending,
    inlineRecords: opts.inlineRecords,
    inlineParseBytes: opts.inlineParseBytes,
    maxParseBacklogBytes: opts.maxParseBacklogBytes,
    clock: opts.clock ?? (() => 0),
    onDrop: (reason, _from, d) => p.drops.push([reason, d.peer]),
  });
  const channel: GossipChannel = {
    broadcast: (u) => p.broadcasts.push(decodeUpdate(u)),
    unicast: () => false,
  };
  p.gossip.attach(channel);
  return p;
}

const FROM = name(99);
const news = (p: Peer, es: PeerEntry[]) => {
  const r = p.gossip.onGossip(FROM, encodeUpdate(es));
  return r === null ? [] : decodeUpdate(r).map((e) => e.name);
};

Deno.test("topology gossip: honest entries are verified once, bound, merged and passed on", () => {
  const p = peer(1);
  assert.deepEqual(news(p, [entry(2, 1), entry(3, 1)]), [name(2), name(3)]);
  assert.equal(p.gossip.verifier.verifications, 2);
  assert.equal(p.keys.binding(name(2))?.source, "topology");
  // Re-delivery, and older copies, cost no verification at all.
  assert.deepEqual(news(p, [entry(2, 1), entry(3, 0)]), []);
  assert.equal(p.gossip.verifier.verifications, 2);
  assert.deepEqual(news(p, [entry(2, 2)]), [name(2)]);
  assert.equal(p.gossip.verifier.verifications, 3);
  assert.deepEqual(p.drops, []);
});

Deno.test("topology gossip: forged, altered and key-swapped entries are dropped and counted", () => {
  const p = peer(1);
  news(p, [entry(2, 1)]);
  const mallory = SigningKey.fromSeed(new Uint8Array(32).fill(7));
  // Another key for a bound name (an attacker's entry for peer 2, at a high version).
  assert.deepEqual(news(p, [entry(2, 1000, [], mallory)]), []);
  // Altered by a relay: a version bumped without re-signing.
  const altered = entryBytes(entry(2, 2)).slice();
  new DataView(altered.buffer).setBigUint64(14, 5000n);
  const update = Uint8Array.of(1, 0, 1, ...altered);
  assert.equal(p.gossip.onGossip(FROM, update), null);
  // A new name whose signature does not match the key it carries.
  const e4 = entry(4, 1);
  const bad = { ...e4, signature: entry(4, 2).signature };
  assert.deepEqual(news(p, [bad]), []);
  // Our own name signed by someone else (the topology attack of issue 12).
  assert.deepEqual(news(p, [entry(1, 2 ** 39, [], mallory)]), []);
  assert.deepEqual(p.drops, [
    ["key-mismatch", name(2)],
    ["bad-signature", name(2)],
    ["bad-signature", name(4)],
    ["key-mismatch", name(1)],
  ]);
  assert.equal(p.store.lookup(name(2))!.version, 1);
  assert.equal(p.store.lookup(name(4)), undefined);
  assert.equal(p.keys.get(name(4)), undefined, "no key bound from a bad signature");
  assert.equal(p.store.own.version, 1, "no jump past a forged entry of our own name");
  assert.equal(p.keys.refusals.get("key-change") ?? 0, 0, "mismatch caught before binding");
});

Deno.test("topology gossip: a replayed old entry changes nothing; an honest update still wins", () => {
  const p = peer(1);
  const old = entry(2, 1), cur = entry(2, 2);
  news(p, [old, cur]);
  const v = p.gossip.verifier.verifications;
  assert.deepEqual(news(p, [old]), []);
  assert.equal(p.gossip.verifier.verifications, v);
  assert.equal(p.store.lookup(name(2)), p.store.lookup(name(2)));
  assert.equal(p.store.lookup(name(2))!.version, 2);
});

Deno.test("topology gossip: with the Kubernetes API as authority, unvouched names wait without blame", () => {
  const p = peer(1, { kubeAuthority: true });
  assert.deepEqual(news(p, [entry(2, 1)]), []);
  assert.deepEqual(p.drops, [["unknown-author", name(2)]]);
  p.keys.bind(name(2), ring.key(name(2)).publicKey, "kube", 2);
  assert.deepEqual(news(p, [entry(2, 1)]), [name(2)], "anti-entropy brings it again");
});

Deno.test("topology gossip: a key replaced by the Kubernetes API takes the squatter's entry with it", () => {
  const p = peer(1);
  const mallory = SigningKey.fromSeed(new Uint8Array(32).fill(9));
  news(p, [entry(2, 50, [], mallory)]); // came first, trusted on first use
  p.store.onChange(() => {});
  // deno-lint-ignore no-explicit-any
  (p.keys as any).onRebind((n: string) => p.store.drop(n)); // what LocalTopology wires
  p.keys.bind(name(2), ring.key(name(2)).publicKey, "kube", 2);
  assert.equal(p.store.lookup(name(2)), undefined);
  assert.deepEqual(news(p, [entry(2, 1)]), [name(2)], "the real peer's entry, even at version 1");
});

Deno.test("topology gossip: a large full state is verified in slices, news broadcast after each", () => {
  const p = peer(1, { inlineParseBytes: Infinity });
  const many = Array.from({ length: 600 }, (_, i) => entry(i + 2, 1));
  const inline = news(p, many);
  assert.equal(inline.length, 32, "the inline budget");
  assert.equal(p.gossip.backlog, 600 - 32);
  assert.equal(p.deferred.length, 1);
  // Nothing is verified twice when the same state comes again meanwhile.
  news(p, many);
  assert.equal(p.gossip.verifier.verifications, 64);
  while (p.deferred.length > 0) p.deferred.shift()!();
  assert.equal(p.gossip.backlog, 0);
  assert.equal(p.store.size, 601);
  assert.deepEqual(p.broadcasts.map((b) => b.length), [128, 128, 128, 128, 600 - 64 - 512]);
  assert.equal(p.gossip.verifier.verifications, 600);
});

Deno.test("topology gossip: the verification backlog is bounded", () => {
  const p = peer(1, { maxPending: 10 });
  assert.equal(news(p, Array.from({ length: 100 }, (_, i) => entry(i + 2, 1))).length, 10);
  assert.equal(p.gossip.drops.get("backlog"), 90);
  assert.equal(p.gossip.verifier.verifications, 10);
});

Deno.test("topology gossip: malformed messages and digests are dropped and counted, not thrown", () => {
  const p = peer(1);
  assert.equal(p.gossip.onGossip(FROM, new TextEncoder().encode('{"peers":[]}')), null);
  assert.deepEqual(p.gossip.onDigest(FROM, new Uint8Array(5)), { update: null, behind: false });
  assert.equal(p.gossip.drops.get("malformed"), 2);
  assert.throws(() => decodeDigest(new Uint8Array(22 * 4097)), TopologyDecodeError);
  const huge = new Uint8Array(22);
  huge.fill(0xff, 14);
  assert.throws(() => decodeDigest(huge), TopologyDecodeError);
});

Deno.test("topology gossip: a digest exchange sends only what the other side lacks", () => {
  const a = peer(1), b = peer(2);
  const c = entry(3, 4);
  a.gossip.onGossip(FROM, encodeUpdate([b.store.own]));
  b.gossip.onGossip(FROM, encodeUpdate([a.store.own, c]));
  const fromA = b.gossip.onDigest(name(1), a.gossip.digest());
  assert.deepEqual(decodeUpdate(fromA.update!).map((e) => e.name), [name(3)]);
  assert.equal(fromA.behind, false);
  const fromB = a.gossip.onDigest(name(2), b.gossip.digest());
  assert.equal(fromB.update, null);
  assert.equal(fromB.behind, true);
  assert.deepEqual(
    [...decodeDigest(b.gossip.digest())].map(([n, s]) => [n, s.version]).sort(),
    [[name(1), 1], [name(2), 1], [name(3), 4]],
  );
});

Deno.test("topology gossip: a slice also ends once its entries hold enough connection records", () => {
  const p = peer(1, { inlineRecords: 10 });
  const wide = Array.from({ length: 6 }, (_, i) => entry(i + 2, 1, [20, 21, 22, 23]));
  assert.equal(news(p, wide).length, 3, "4 + 4 + 4 records: the budget of 10 is spent");
  assert.equal(p.gossip.backlog, 3);
  p.deferred.shift()!();
  assert.equal(p.gossip.backlog, 0);
});

Deno.test("topology gossip: a slice ends once its time budget is spent, after one check at least", () => {
  // Every look at the clock moves it 2 ms; the budget is 5 ms from the first look: checks go on
  // while the clock reads under the deadline (4, 6: three checks, 8 stops). A clock that jumps
  // past the budget still lets each slice check one entry.
  assert.equal(DEFAULT_SLICE_BUDGET_MS, 5);
  let t = 0;
  const p = peer(1, { clock: () => (t += 2) });
  const many = Array.from({ length: 8 }, (_, i) => entry(i + 2, 1));
  assert.equal(news(p, many).length, 3, "inline: 3 checks in the budget");
  p.deferred.shift()!();
  assert.deepEqual(p.broadcasts.map((b) => b.length), [3], "a deferred slice: the same");
  t = 0;
  const q = peer(1, { clock: () => (t += 100) });
  assert.equal(news(q, many).length, 1, "over budget at once: still one check");
  assert.equal(q.gossip.backlog, 7);
});

Deno.test("topology gossip: a large message is parsed in slices, a malformed one dropped whole", () => {
  let t = 0;
  const p = peer(1, { inlineParseBytes: 1000, clock: () => (t += 1) });
  const many = Array.from({ length: 300 }, (_, i) => entry(i + 2, 1));
  const data = encodeUpdate(many);
  assert.equal(p.gossip.onGossip(FROM, data), null, "nothing parsed while it is handled");
  assert.equal(p.store.size, 1);
  assert.equal(p.deferred.length, 1);
  let slices = 0;
  while (p.deferred.length > 0) {
    p.deferred.shift()!();
    slices++;
  }
  assert.ok(slices > 3, `parsed and verified over ${slices} slices`);
  assert.equal(p.store.size, 301, "every entry merged in the end");
  assert.equal(p.gossip.backlog, 0);

  // The same message with its last entry cut short: no entry of it is merged.
  const q = peer(1, { inlineParseBytes: 1000, clock: () => (t += 1) });
  assert.equal(q.gossip.onGossip(FROM, data.subarray(0, data.length - 1)), null);
  while (q.deferred.length > 0) q.deferred.shift()!();
  assert.equal(q.store.size, 1);
  assert.equal(q.gossip.drops.get("malformed"), 1);
  // A bad header is refused at once.
  assert.equal(q.gossip.onGossip(FROM, new Uint8Array(2000)), null);
  assert.equal(q.gossip.drops.get("malformed"), 2);
  assert.equal(q.deferred.length, 0);
});

Deno.test("topology gossip: messages waiting to be parsed are bounded in bytes", () => {
  const data = encodeUpdate(Array.from({ length: 200 }, (_, i) => entry(i + 2, 1)));
  const p = peer(1, { inlineParseBytes: 1000, maxParseBacklogBytes: data.length * 1.5 });
  p.gossip.onGossip(FROM, data);
  p.gossip.onGossip(FROM, data);
  assert.equal(p.gossip.drops.get("backlog"), 1, "the second one does not fit");
  assert.equal(p.gossip.backlog, 1);
});

Deno.test("topology gossip: slices pause twice as long as they took, leaving the loop to others", () => {
  assert.deepEqual([0, 7, 25, 400, -1].map(slicePause), [0, 14, 50, 50, 0]);
  // Each look at the clock moves it 3 ms: a slice of 128 checks is cut by the 5 ms budget (two
  // checks), and takes 9 ms with the look after its broadcast: it pauses 18 ms.
  let t = 0;
  const p = peer(1, { clock: () => (t += 3) });
  news(p, Array.from({ length: 40 }, (_, i) => entry(i + 2, 1)));
  while (p.deferred.length > 0) p.deferred.shift()!();
  assert.equal(p.gossip.backlog, 0);
  assert.equal(p.pauses[0], 0, "the first slice runs at once");
  assert.ok(p.pauses.length > 3, `${p.pauses.length} slices`);
  for (const ms of p.pauses.slice(1)) assert.equal(ms, 18);
});
