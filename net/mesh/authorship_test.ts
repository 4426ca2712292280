import assert from "node:assert/strict";
import { EntryVerifier } from "./authorship.ts";
import { PeerKeys } from "./keys.ts";
import { SigningKey } from "./signing.ts";
import { signEntry } from "./topology.ts";

Deno.test("authorship: a verified entry confirms a key bound by the peer's handshake (the peer becomes known)", () => {
  const self = SigningKey.generate(), peer = SigningKey.generate();
  const A = "02:00:00:00:00:0a";
  const keys = new PeerKeys({ self: "02:00:00:00:00:01", selfKey: self.publicKey });
  assert.ok(keys.bind(A, peer.publicKey, "handshake", 1).ok);
  assert.equal(keys.isKnown(A), false, "a handshake alone does not vouch");
  const entry = signEntry(
    { name: A, nickname: "a", uid: "000000000000000a", version: 1, connections: [] },
    peer.publicKey,
    (d, p) => peer.sign(d, p),
  );
  assert.equal(new EntryVerifier(keys).check(entry, 2), "valid");
  assert.equal(keys.isKnown(A), true);
});
