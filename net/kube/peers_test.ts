import assert from "node:assert/strict";
import fc from "fast-check";
import {
  claim,
  completeReclaim,
  deadPeers,
  LOCK_TTL_MS,
  lockKey,
  nodeAddress,
  peerList,
  PeerListError,
  type PeerRecord,
  PEERS_ANNOTATION,
  peerTargets,
  register,
  releaseClaim,
} from "./peers.ts";
import type { ConfigMap, Node } from "./types.ts";

const NOW = Date.parse("2026-01-01T00:00:00Z");

function node(name: string, ...addrs: Array<[string, string]>): Node {
  return {
    metadata: { name },
    status: { addresses: addrs.map(([type, address]) => ({ type, address })) },
  };
}

function cm(peers: PeerRecord[] | null, extra: Record<string, string> = {}): ConfigMap {
  const annotations = { ...extra };
  if (peers) annotations[PEERS_ANNOTATION] = JSON.stringify({ peers });
  return {
    metadata: { name: "weavets", namespace: "kube-system", resourceVersion: "1", annotations },
  };
}

const A = { peerName: "aa:00:00:00:00:01", nodeName: "a" };
const B = { peerName: "aa:00:00:00:00:02", nodeName: "b" };
const C = { peerName: "aa:00:00:00:00:03", nodeName: "c" };

Deno.test("nodeAddress: IPv4 InternalIP, else IPv4 ExternalIP, else none", () => {
  assert.equal(
    nodeAddress(node("n", ["ExternalIP", "198.51.100.1"], ["InternalIP", "10.0.0.1"])),
    "10.0.0.1",
  );
  assert.equal(
    nodeAddress(node("n", ["InternalIP", "fd00::1"], ["ExternalIP", "198.51.100.1"])),
    "198.51.100.1",
  );
  assert.equal(nodeAddress(node("n", ["Hostname", "n"])), undefined);
  assert.equal(nodeAddress({ metadata: { name: "bare" } }), undefined);
});

Deno.test("peerTargets: every other node once, sorted", () => {
  const nodes = [
    node("c", ["InternalIP", "10.0.0.3"]),
    node("self", ["InternalIP", "10.0.0.9"]),
    node("a", ["InternalIP", "10.0.0.1"]),
    node("dup", ["InternalIP", "10.0.0.1"]),
    node("noaddr"),
  ];
  assert.deepEqual(peerTargets(nodes, "self"), ["10.0.0.1", "10.0.0.3"]);
});

Deno.test("peerList: absent is empty; garbage is a precise error", () => {
  assert.deepEqual(peerList(cm(null)), []);
  assert.deepEqual(peerList(cm([A])), [A]);
  assert.throws(() => peerList(cm(null, { [PEERS_ANNOTATION]: "{" })), PeerListError);
  assert.throws(
    () => peerList(cm(null, { [PEERS_ANNOTATION]: '{"peers":[{"peerName":""}]}' })),
    /kube-peers.weavets.dev\/peers/,
  );
});

Deno.test("register: fresh only when absent from a list others wrote", () => {
  const first = register(cm(null), A, NOW);
  assert.equal(first.kind, "add");
  assert.equal(first.kind === "add" && first.fresh, false, "first deployment: nothing to forget");
  assert.deepEqual(first.kind === "add" && peerList(first.cm), [A]);

  const reclaimed = register(cm([B]), A, NOW);
  assert.equal(reclaimed.kind === "add" && reclaimed.fresh, true);
  assert.deepEqual(reclaimed.kind === "add" && peerList(reclaimed.cm), [A, B]);

  assert.deepEqual(register(cm([A, B]), A, NOW), { kind: "listed" });

  // The same peer on a renamed node: moved, state kept.
  const moved = register(cm([{ ...A, nodeName: "a2" }, B]), A, NOW);
  assert.equal(moved.kind === "add" && moved.fresh, false);
  assert.deepEqual(moved.kind === "add" && peerList(moved.cm), [A, B]);
});

Deno.test("register: waits while another peer reclaims this one; an old lock is ignored", () => {
  const lock = (at: number) => ({
    [lockKey(A.peerName)]: JSON.stringify({ holder: B.peerName, at: new Date(at).toISOString() }),
  });
  assert.deepEqual(register(cm([A, B], lock(NOW - 1000)), A, NOW), {
    kind: "wait",
    holder: B.peerName,
  });
  assert.deepEqual(register(cm([A, B], lock(NOW - LOCK_TTL_MS - 1)), A, NOW), { kind: "listed" });
});

Deno.test("deadPeers: node gone, or an earlier peer of this node; never this peer", () => {
  const oldSelf = { peerName: "aa:00:00:00:00:99", nodeName: "a" };
  const live = new Set(["a", "b"]);
  assert.deepEqual(deadPeers(cm([A, B, C, oldSelf]), live, A), [C, oldSelf]);
  assert.deepEqual(deadPeers(cm([A, B]), live, A), []);
});

Deno.test("claim: gone, held by a live peer, or taken (lock written)", () => {
  const live = new Set(["a", "b"]);
  assert.deepEqual(claim(cm([A, B]), C, A.peerName, live, NOW), { kind: "gone" });

  const lockedByB = cm([A, B, C], {
    [lockKey(C.peerName)]: JSON.stringify({ holder: B.peerName, at: new Date(NOW).toISOString() }),
  });
  assert.deepEqual(claim(lockedByB, C, A.peerName, live, NOW), {
    kind: "held",
    holder: B.peerName,
  });
  // The holder's node died too: the lock is abandoned.
  assert.equal(claim(lockedByB, C, A.peerName, new Set(["a"]), NOW).kind, "take");
  // Held too long: abandoned.
  assert.equal(claim(lockedByB, C, A.peerName, live, NOW + LOCK_TTL_MS + 1).kind, "take");

  const taken = claim(cm([A, B, C]), C, A.peerName, live, NOW);
  assert.equal(taken.kind, "take");
  if (taken.kind !== "take") return;
  const value = JSON.parse(taken.cm.metadata.annotations![lockKey(C.peerName)]);
  assert.equal(value.holder, A.peerName);
  assert.equal(lockKey(C.peerName), "kube-peers.weavets.dev/reclaim-aa-00-00-00-00-03");
});

Deno.test("completeReclaim and releaseClaim keep everything else", () => {
  const live = new Set(["a", "b"]);
  const start = cm([A, B, C], { other: "kept" });
  const taken = claim(start, C, A.peerName, live, NOW);
  assert.equal(taken.kind, "take");
  if (taken.kind !== "take") return;
  const done = completeReclaim(taken.cm, C);
  assert.deepEqual(peerList(done), [A, B]);
  assert.deepEqual(Object.keys(done.metadata.annotations!).sort(), [
    "kube-peers.weavets.dev/peers",
    "other",
  ]);
  const released = releaseClaim(taken.cm, C, A.peerName);
  assert.deepEqual(released?.metadata.annotations, start.metadata.annotations);
  assert.equal(releaseClaim(taken.cm, C, B.peerName), null, "only the holder releases");
});

/**
 * The safety property behind "exactly one rmpeer": however reads and compare-and-swap writes of
 * several peers interleave, one peer at most wins the lock for a dead peer while it is held.
 */
Deno.test("claim under compare-and-swap: at most one winner for any interleaving", () => {
  const live = new Set(["a", "b", "c", "d"]);
  const racers = ["a", "b", "c", "d"].map((n, i) => ({
    peerName: `aa:00:00:00:00:1${i}`,
    nodeName: n,
  }));
  const dead = { peerName: "dd:00:00:00:00:00", nodeName: "gone" };
  fc.assert(
    fc.property(
      fc.array(fc.nat(racers.length - 1), { minLength: 1, maxLength: 40 }),
      (schedule) => {
        let store = { rv: 1, cm: cm([...racers, dead]) };
        const snapshot: Array<{ rv: number; cm: ConfigMap } | undefined> = racers.map(() =>
          undefined
        );
        const winners = new Set<string>();
        for (const i of schedule) {
          const me = racers[i].peerName;
          const seen = snapshot[i];
          if (!seen) {
            snapshot[i] = store; // read
            continue;
          }
          snapshot[i] = undefined;
          const c = claim(seen.cm, dead, me, live, NOW);
          if (c.kind !== "take" || seen.rv !== store.rv) continue; // nothing to do, or 409
          store = { rv: store.rv + 1, cm: c.cm };
          winners.add(me);
        }
        return winners.size <= 1;
      },
    ),
  );
});
