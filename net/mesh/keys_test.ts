import assert from "node:assert/strict";
import { PeerKeys, REVOKED_MS } from "./keys.ts";
import { TestKeyring } from "./testing/keyring.ts";

const ring = new TestKeyring();
const SELF = "02:00:00:00:00:01", A = "02:00:00:00:00:0a", B = "02:00:00:00:00:0b";
const key = (p: string) => ring.key(p).publicKey;
const other = ring.key("someone else").publicKey;

function keys(opts: Partial<ConstructorParameters<typeof PeerKeys>[0]> = {}) {
  return new PeerKeys({ self: SELF, selfKey: key(SELF), ...opts });
}

Deno.test("keys: first key seen is bound; the same key confirms it; another key is refused and counted", () => {
  const k = keys();
  assert.deepEqual(k.bind(A, key(A), "handshake", 1), { ok: true, changed: true });
  assert.deepEqual(k.bind(A, key(A), "topology", 2), { ok: true, changed: false });
  const r = k.bind(A, other, "handshake", 3);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.refusal, "key-change");
  assert.match(!r.ok ? r.reason : "", /rmpeer/);
  assert.deepEqual(k.get(A), key(A));
  assert.equal(k.refusals.get("key-change"), 1);
  // Refused from the topology and from persisted state alike.
  assert.equal(k.bind(A, other, "topology", 4).ok, false);
  assert.equal(k.bind(A, other, "persisted", 4).ok, false);
  assert.equal(k.refusals.get("key-change"), 3);
});

Deno.test("keys: our own name is bound to our own key only", () => {
  const k = keys();
  assert.deepEqual(k.get(SELF), key(SELF));
  for (const src of ["handshake", "topology", "kube", "persisted"] as const) {
    const r = k.bind(SELF, other, src, 1);
    assert.equal(!r.ok && r.refusal, "own-name", src);
  }
  k.forget(SELF, 1);
  assert.deepEqual(k.get(SELF), key(SELF));
  assert.equal(k.bind(SELF, key(SELF), "handshake", 1).ok, true);
  // "self" is not a source for anyone else.
  assert.equal(k.bind(A, key(A), "self", 1).ok, false);
});

Deno.test("keys: isKnown needs more than the peer's own handshake", () => {
  const k = keys();
  assert.equal(k.isKnown(A), false);
  k.bind(A, key(A), "handshake", 1);
  assert.equal(k.isKnown(A), false);
  k.bind(A, key(A), "topology", 2);
  assert.equal(k.isKnown(A), true);
  // A weaker source never downgrades.
  k.bind(A, key(A), "handshake", 3);
  assert.equal(k.isKnown(A), true);
  assert.equal(k.binding(A)?.source, "topology");
  for (const src of ["kube", "persisted"] as const) {
    const k2 = keys();
    k2.bind(B, key(B), src, 1);
    assert.equal(k2.isKnown(B), true, src);
  }
  assert.equal(k.isKnown(SELF), true);
});

Deno.test("keys: the Kubernetes API replaces a key; nothing else replaces the API's", () => {
  const k = keys();
  const seen: string[] = [];
  k.onRebind((n) => seen.push(n));
  k.bind(A, other, "topology", 1); // a squatter came first
  assert.deepEqual(k.bind(A, key(A), "kube", 2), { ok: true, changed: true });
  assert.deepEqual(seen, [A]);
  assert.deepEqual(k.get(A), key(A));
  assert.equal(k.bind(A, other, "topology", 3).ok, false);
  assert.equal(k.bind(A, other, "handshake", 3).ok, false);
  // The node was re-imaged: its annotation changed.
  assert.equal(k.bind(A, other, "kube", 4).ok, true);
  assert.deepEqual(k.get(A), other);
});

Deno.test("keys: with the Kubernetes API as authority, the handshake and topology only confirm", () => {
  const k = keys({ kubeAuthority: true });
  const r = k.bind(A, key(A), "handshake", 1);
  assert.equal(!r.ok && r.refusal, "unvouched");
  assert.equal(k.bind(A, key(A), "topology", 1).ok, false);
  assert.equal(k.bind(A, key(A), "kube", 2).ok, true);
  assert.deepEqual(k.bind(A, key(A), "handshake", 3), { ok: true, changed: false });
  assert.equal(k.bind(A, other, "handshake", 3).ok, false);
  assert.equal(k.refusals.get("unvouched"), 2);
});

Deno.test("keys: with the Kubernetes API as authority, bindings from before count only once it vouches", () => {
  const k = keys();
  k.bind(A, key(A), "persisted", 1);
  k.bind(B, other, "topology", 1); // a squatter, trusted on first use before --kube
  const seen: string[] = [];
  k.onRebind((n) => seen.push(n));
  k.kubeAuthority = true;
  assert.equal(k.get(A), undefined);
  assert.equal(k.isKnown(A), false);
  assert.equal(
    k.verify(A, "d", Uint8Array.of(1), ring.key(A).sign("d", Uint8Array.of(1))),
    "unknown-author",
  );
  assert.deepEqual(k.bind(A, key(A), "kube", 2), { ok: true, changed: true });
  assert.deepEqual(k.get(A), key(A));
  assert.deepEqual(seen, [], "same key: nothing signed under it goes");
  k.bind(B, key(B), "kube", 2);
  assert.deepEqual(seen, [B], "the squatter's entries go");
});

Deno.test("keys: forget (rmpeer) lets a new key in and keeps the old one out", () => {
  const k = keys();
  const seen: string[] = [];
  k.onRebind((n) => seen.push(n));
  k.bind(A, key(A), "topology", 1);
  k.bind(B, key(B), "topology", 1);
  k.forget(A, 100);
  assert.deepEqual(seen, [A]);
  assert.equal(k.get(A), undefined);
  assert.equal(k.isKnown(A), false);
  // Gossip still carrying the old key cannot bring it back.
  const r = k.bind(A, key(A), "topology", 200);
  assert.equal(!r.ok && r.refusal, "revoked");
  assert.equal(k.bind(A, key(A), "handshake", 200).ok, false);
  // Revocations and bindings survive a restart through snapshot/restore.
  const k2 = keys();
  k2.restore(k.snapshot(), 300);
  assert.equal(k2.bind(A, key(A), "topology", 400).ok, false);
  assert.deepEqual(k2.get(B), key(B));
  assert.equal(k2.binding(B)?.source, "persisted");
  // A new key for the name is bound (a re-imaged node), and then held.
  assert.deepEqual(k.bind(A, other, "handshake", 300), { ok: true, changed: true });
  assert.equal(k.bind(A, key(A), "topology", 300).ok, false);
});

Deno.test("keys: a revocation expires; the API overrides it at once", () => {
  const k = keys();
  k.bind(A, key(A), "topology", 0);
  k.forget(A, 0);
  assert.equal(k.bind(A, key(A), "topology", REVOKED_MS - 1).ok, false);
  assert.equal(k.bind(A, key(A), "topology", REVOKED_MS + 1).ok, true);
  const k2 = keys();
  k2.bind(A, key(A), "topology", 0);
  k2.forget(A, 0);
  assert.equal(k2.bind(A, key(A), "kube", 1).ok, true);
  // A snapshot taken after expiry does not bring the revocation back.
  const k3 = keys();
  k3.restore(k.snapshot(), REVOKED_MS + 5);
  assert.equal(k3.bind(A, other, "topology", REVOKED_MS + 5).ok, false); // A's key, persisted
});

Deno.test("keys: bounded; the oldest weak binding not in use makes room, strong ones stay", () => {
  const inUse = new Set<string>();
  const k = keys({ maxBindings: 3, inUse: (n) => inUse.has(n) });
  const C = "02:00:00:00:00:0c", D = "02:00:00:00:00:0d";
  k.bind(A, key(A), "topology", 1);
  k.bind(B, key(B), "kube", 2);
  assert.equal(k.size, 3); // self, A, B
  inUse.add(A);
  const r = k.bind(C, key(C), "topology", 3);
  assert.equal(!r.ok && r.refusal, "full");
  inUse.delete(A);
  assert.equal(k.bind(C, key(C), "topology", 4).ok, true);
  assert.equal(k.get(A), undefined);
  assert.deepEqual(k.get(B), key(B));
  inUse.add(C);
  assert.equal(k.bind(D, key(D), "topology", 5).ok, false);
});

Deno.test("keys: a shared base is read under local bindings", () => {
  const base = new Map([[A, key(A)]]);
  const k = keys({ base });
  assert.deepEqual(k.get(A), key(A));
  assert.equal(k.isKnown(A), true);
  assert.equal(k.bind(A, other, "handshake", 1).ok, false);
  k.forget(A, 1);
  assert.equal(k.get(A), undefined);
  assert.equal(base.size, 1);
});

Deno.test("keys: a malformed key is refused", () => {
  const r = keys().bind(A, new Uint8Array(31), "handshake", 1);
  assert.equal(!r.ok && r.refusal, "malformed");
});

Deno.test("keys: verify checks against the bound key only", () => {
  const k = keys();
  const msg = new TextEncoder().encode("hello");
  const sig = ring.key(A).sign("test/x", msg);
  assert.equal(k.verify(A, "test/x", msg, sig), "unknown-author");
  k.bind(A, key(A), "handshake", 1);
  assert.equal(k.verify(A, "test/x", msg, sig), "valid");
  assert.equal(k.verify(A, "test/y", msg, sig), "invalid");
  assert.equal(k.verify(A, "test/x", msg, ring.key(B).sign("test/x", msg)), "invalid");
  assert.equal(k.verify(SELF, "test/x", msg, ring.key(SELF).sign("test/x", msg)), "valid");
});
