/**
 * Known-answer vectors for the control protocol, version 2 (docs/PROTOCOL.md §1-3): the hellos,
 * the transcript, scrypt, every HKDF output, the rekey ratchet, the identity signature, a sealed
 * frame and every message tag. Changing an encoder and its decoder together, or a label, fails
 * here. The vectors (testing/wire_vectors_v2.json) were computed by an independent
 * implementation, testing/wire_vectors.py (Python hashlib and `cryptography`); the last test
 * re-runs it when python3 with `cryptography` is installed.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { decodeMessage, encodeMessage, frame, type Message, Tag } from "./codec.ts";
import { HANDSHAKE_SIGNATURE_DOMAIN, identityProof } from "./handshake_io.ts";
import {
  derivePsk,
  keyPairFromPrivate,
  Opener,
  ratchet,
  Sealer,
  sessionKeys,
  sharedSecret,
  transcriptHash,
} from "./crypto.ts";
import { decodeHello, encodeHello } from "./handshake.ts";
import { publicKeyToText, SigningKey, verifySignature } from "./signing.ts";
import vectors from "./testing/wire_vectors_v2.json" with { type: "json" };

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex"));
const range = (from: number) => Uint8Array.from({ length: 32 }, (_, i) => from + i);

const client = keyPairFromPrivate(range(1)), server = keyPairFromPrivate(range(33));
const signer = SigningKey.fromSeed(range(65));
const A = "02:00:00:00:00:0a", B = "02:00:00:00:00:0b";

Deno.test("wire vectors: hellos, transcript, scrypt and every HKDF output", () => {
  assert.equal(hex(client.publicKey), vectors.client_public);
  assert.equal(hex(server.publicKey), vectors.server_public);
  const ch = encodeHello({
    minVersion: 2,
    maxVersion: 2,
    authenticated: true,
    publicKey: client.publicKey,
  });
  const sh = encodeHello({
    minVersion: 2,
    maxVersion: 2,
    authenticated: true,
    publicKey: server.publicKey,
  });
  assert.equal(hex(ch), vectors.client_hello);
  assert.equal(hex(sh), vectors.server_hello);
  assert.deepEqual(decodeHello(bytes(vectors.client_hello)).publicKey, client.publicKey);
  const th = transcriptHash(ch, sh);
  assert.equal(hex(th), vectors.transcript);
  const psk = derivePsk("correct horse battery staple");
  assert.equal(hex(psk), vectors.psk);
  const shared = sharedSecret(client, server.publicKey);
  assert.equal(hex(shared), vectors.shared);
  assert.equal(hex(sharedSecret(server, client.publicKey)), vectors.shared);
  const k = sessionKeys(shared, psk, th);
  assert.equal(hex(k.clientToServer), vectors.c2s);
  assert.equal(hex(k.serverToClient), vectors.s2c);
  assert.equal(hex(k.data), vectors.data);
  assert.equal(hex(k.dataId), vectors.data_id);
  assert.equal(hex(ratchet(k.clientToServer)), vectors.c2s_after_rekey);
});

Deno.test("wire vectors: the identity signature and the sealed identity frame", () => {
  assert.equal(hex(signer.publicKey), vectors.signing_public);
  const th = bytes(vectors.transcript);
  const proof = identityProof(th, true, "02:00:00:00:00:01");
  const sig = signer.sign(HANDSHAKE_SIGNATURE_DOMAIN, proof);
  assert.equal(hex(sig), vectors.identity_signature);
  assert.ok(verifySignature(signer.publicKey, HANDSHAKE_SIGNATURE_DOMAIN, proof, sig));
  assert.ok(
    !verifySignature(
      signer.publicKey,
      HANDSHAKE_SIGNATURE_DOMAIN,
      identityProof(th, false, "02:00:00:00:00:01"),
      sig,
    ),
    "a client's signature is not a server's",
  );
  const identity: Message = {
    tag: Tag.identity,
    identity: {
      name: "02:00:00:00:00:01",
      nickname: "a",
      uid: "0123456789abcdef",
      port: 6783,
      key: publicKeyToText(signer.publicKey),
      sig: Buffer.from(sig).toString("base64url"),
    },
  };
  assert.equal(hex(encodeMessage(identity)), vectors.messages.identity);
  const sealer = new Sealer(bytes(vectors.c2s), 0);
  assert.equal(hex(frame(sealer.seal(encodeMessage(identity)))), vectors.sealed_identity_frame);
  assert.equal(hex(sealer.seal(encodeMessage({ tag: Tag.heartbeat }))), vectors.sealed_heartbeat_1);
  const opener = new Opener(bytes(vectors.c2s));
  const sealed = bytes(vectors.sealed_identity_frame).subarray(4);
  assert.deepEqual(decodeMessage(opener.open(sealed)), identity);
});

Deno.test("wire vectors: a trusting identity (--trusted-subnets) signs role 4 and carries trusted", () => {
  const th = bytes(vectors.transcript);
  const proof = identityProof(th, false, "02:00:00:00:00:01", true);
  const sig = signer.sign(HANDSHAKE_SIGNATURE_DOMAIN, proof);
  assert.equal(hex(sig), vectors.identity_trusted_signature);
  const identity: Message = {
    tag: Tag.identity,
    identity: {
      name: "02:00:00:00:00:01",
      nickname: "a",
      uid: "0123456789abcdef",
      port: 6783,
      key: publicKeyToText(signer.publicKey),
      sig: Buffer.from(sig).toString("base64url"),
      trusted: true,
    },
  };
  assert.equal(hex(encodeMessage(identity)), vectors.identity_trusted);
  assert.deepEqual(decodeMessage(bytes(vectors.identity_trusted)), identity);
  // Only `true` or absent: a "trusted": false (or anything else) is refused, not taken as trust.
  const forged = new TextEncoder().encode(
    JSON.stringify({ ...identity.identity, trusted: false }),
  );
  assert.throws(() => decodeMessage(Uint8Array.of(Tag.identity, ...forged)), /trusted/);
});

Deno.test("wire vectors: every message tag", () => {
  const data = Uint8Array.of(1, 2);
  const messages: Record<string, Message> = {
    heartbeat: { tag: Tag.heartbeat },
    gossip: { tag: Tag.gossip, channel: "topology", data },
    broadcast: { tag: Tag.broadcast, channel: "topology", source: A, data },
    unicast: { tag: Tag.unicast, channel: "ipam", source: A, dest: B, hops: 3, data },
    digest: { tag: Tag.digest, channel: "topology", reply: true, data },
    rekey: { tag: Tag.rekey },
  };
  assert.deepEqual(
    Object.keys(vectors.messages).sort(),
    [...Object.keys(messages), "identity"].sort(),
    "a vector for every tag",
  );
  assert.equal(Object.keys(Tag).length, Object.keys(vectors.messages).length);
  for (const [name, m] of Object.entries(messages)) {
    const want = vectors.messages[name as keyof typeof vectors.messages];
    assert.equal(hex(encodeMessage(m)), want, name);
    assert.deepEqual(decodeMessage(bytes(want)), m, name);
  }
});

const python = await new Deno.Command("python3", {
  args: ["-c", "import cryptography"],
  stdout: "null",
  stderr: "null",
}).output().then((o) => o.success, () => false);
if (!python) {
  console.log("skipping the Python cross-check: python3 with `cryptography` is not installed");
}

Deno.test({
  name: "wire vectors: the independent Python implementation computes the same vectors",
  ignore: !python,
  fn: async () => {
    const out = await new Deno.Command("python3", {
      args: [new URL("./testing/wire_vectors.py", import.meta.url).pathname],
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), vectors);
  },
});
