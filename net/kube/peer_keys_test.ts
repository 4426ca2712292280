import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { PeerKeys } from "../mesh/keys.ts";
import { publicKeyToText } from "../mesh/signing.ts";
import { TestKeyring } from "../mesh/testing/keyring.ts";
import {
  kubePeerKeys,
  nodePeerKey,
  PEER_KEY_ANNOTATION,
  peerKeyPatch,
  vouchedKeys,
} from "./peer_keys.ts";
import type { Node } from "./types.ts";

const ring = new TestKeyring();
const P = (i: number) => `0a:00:00:00:00:0${i}`;
const text = (peer: string) => publicKeyToText(ring.key(peer).publicKey);
const node = (name: string, annotation?: string): Node => ({
  metadata: {
    name,
    annotations: annotation === undefined ? {} : { [PEER_KEY_ANNOTATION]: annotation },
  },
});
const claimOf = (peer: string, key = text(peer)) => JSON.stringify({ peer, key });

Deno.test("kube peer keys: the patch publishes a claim the parser reads back", () => {
  const claim = { peer: P(1), key: text(P(1)) };
  const patch = peerKeyPatch(claim) as { metadata: { annotations: Record<string, string> } };
  assert.deepEqual(nodePeerKey({ metadata: { name: "n", ...patch.metadata } }), claim);
  assert.equal(nodePeerKey(node("n")), null);
  for (const bad of ["{", '{"peer":"x","key":"y"}', claimOf(P(1)).replace("}", ',"z":1}')]) {
    const r = nodePeerKey(node("n", bad));
    assert.ok(r !== null && "error" in r, bad);
  }
});

Deno.test("kube peer keys: a peer name claimed by two Nodes is trusted from neither", () => {
  const v = vouchedKeys([
    node("a", claimOf(P(1))),
    node("b", claimOf(P(2))),
    node("evil", claimOf(P(2), text("mallory"))),
    node("c", "not json"),
    node("d"),
  ]);
  assert.deepEqual([...v.keys.keys()], [P(1)]);
  assert.deepEqual(v.conflicts, [{ peer: P(2), nodes: ["b", "evil"] }]);
  assert.deepEqual(v.invalid.map((i) => i.node), ["c"]);
});

Deno.test("kube peer keys: Nodes vouch, a deleted Node's peer is forgotten; problems logged once", () => {
  const lines: string[] = [];
  const log = new Logger({ json: true, sink: { write: (l) => lines.push(l) } });
  const self = P(0);
  const keys = new PeerKeys({ self, selfKey: ring.key(self).publicKey, kubeAuthority: true });
  const mesh = {
    self,
    publicKey: ring.key(self).publicKey,
    vouchKey: (n: string, k: Uint8Array) => keys.bind(n, k, "kube", 1),
    forgetPeer: (n: string) => keys.forget(n, 1),
  };
  const k = kubePeerKeys(mesh, log);
  assert.deepEqual(k.claim, { peer: self, key: text(self) });
  // Before its Node says so, peer 1 cannot be bound at all.
  assert.equal(keys.bind(P(1), ring.key(P(1)).publicKey, "handshake", 1).ok, false);
  const nodes = [node("n0", claimOf(self)), node("n1", claimOf(P(1))), node("bad", "{")];
  k.onNodes(nodes);
  k.onNodes(nodes);
  assert.deepEqual(keys.get(P(1)), ring.key(P(1)).publicKey);
  assert.equal(keys.bind(P(1), ring.key(P(1)).publicKey, "handshake", 2).ok, true);
  // Our own name with another key on some Node: refused, reported.
  k.onNodes([
    ...nodes,
    node("evil", claimOf(P(2), text("mallory"))),
    node("evil2", claimOf(self, text("mallory"))),
  ]);
  assert.deepEqual(keys.get(self), ring.key(self).publicKey);
  const errors = lines.filter((l) => l.includes("not trusted"));
  assert.equal(errors.length, 2, "once per change of the problems, not per event");
  k.onNodeDeleted(nodes[1]);
  assert.equal(keys.get(P(1)), undefined);
  k.onNodeDeleted(node("x")); // no annotation: nothing to forget
});
