import assert from "node:assert/strict";
import { FrameReader, MAX_HANDSHAKE_FRAME } from "./codec.ts";
import { derivePsk } from "./crypto.ts";
import {
  HANDSHAKE_SIGNATURE_DOMAIN,
  type HandshakeIo,
  type HandshakeOptions,
  identityProof,
  runHandshake,
} from "./handshake_io.ts";
import { SigningKey, verifySignature } from "./signing.ts";
import { mutuallyTrusted, plaintextAllowed, TrustedSubnets } from "./trust.ts";

Deno.test("trust: subnets hold IPv4 and IPv4-mapped addresses; anything else is untrusted", () => {
  const t = new TrustedSubnets(["10.1.0.0/16", "192.168.5.7/32"]);
  assert.ok(t.contains("10.1.200.3"));
  assert.ok(t.contains("192.168.5.7"));
  assert.ok(t.contains("::ffff:10.1.0.1"), "a dual-stack socket's view of an IPv4 peer");
  assert.ok(t.contains("::FFFF:10.1.0.1"));
  for (
    const a of ["10.2.0.1", "192.168.5.8", "::1", "fe80::1", "", "10.1.0", "garbage", "::ffff:"]
  ) {
    assert.ok(!t.contains(a), a);
  }
  const none = new TrustedSubnets([]);
  assert.ok(none.empty);
  assert.ok(!none.contains("10.1.0.1"), "no subnets: nobody is trusted");
  assert.ok(new TrustedSubnets(["0.0.0.0/0"]).contains("1.2.3.4"));
});

Deno.test("trust: plaintext only with a mutual trust and the record's address inside our subnets", () => {
  const subnets = new TrustedSubnets(["10.1.0.0/16"]);
  const both = { trustRemote: true, trustedByRemote: true };
  assert.ok(mutuallyTrusted(both));
  // A peer that says it trusts us while we do not trust it (it lies, or its subnets are wider):
  // its word alone never makes this end send plaintext.
  assert.ok(!mutuallyTrusted({ trustRemote: false, trustedByRemote: true }));
  assert.ok(!mutuallyTrusted({ trustRemote: true, trustedByRemote: false }));
  assert.ok(!mutuallyTrusted(undefined), "no connection: no trust");
  const ok = { encrypted: true, mutual: true, recordAddr: "10.1.0.9", subnets };
  assert.ok(plaintextAllowed(ok));
  assert.ok(!plaintextAllowed({ ...ok, mutual: false }));
  assert.ok(
    !plaintextAllowed({ ...ok, recordAddr: "172.16.0.9" }),
    "a record naming an address outside our subnets gets no plaintext",
  );
  assert.ok(plaintextAllowed({ ...ok, encrypted: false, mutual: false }), "no password");
});

Deno.test("trust: the claim is bound into the identity signature (one cannot pass for the other)", () => {
  const key = SigningKey.generate();
  const th = new Uint8Array(32).fill(7);
  const name = "02:00:00:00:00:01";
  const plain = identityProof(th, true, name);
  const trusting = identityProof(th, true, name, true);
  assert.equal(plain[0], 1);
  assert.equal(trusting[0], 3);
  assert.equal(identityProof(th, false, name, true)[0], 4);
  const sig = key.sign(HANDSHAKE_SIGNATURE_DOMAIN, plain);
  assert.ok(verifySignature(key.publicKey, HANDSHAKE_SIGNATURE_DOMAIN, plain, sig));
  assert.ok(!verifySignature(key.publicKey, HANDSHAKE_SIGNATURE_DOMAIN, trusting, sig));
  const sig2 = key.sign(HANDSHAKE_SIGNATURE_DOMAIN, trusting);
  assert.ok(!verifySignature(key.publicKey, HANDSHAKE_SIGNATURE_DOMAIN, plain, sig2));
});

/** Two handshake ends joined in memory; `tamper` may rewrite what flows client → server. */
function pipe(tamper: (b: Uint8Array) => Uint8Array = (b) => b): [HandshakeIo, HandshakeIo] {
  const mk = () => {
    const queue: Uint8Array[] = [];
    let wake: (() => void) | undefined;
    return {
      push(b: Uint8Array) {
        queue.push(b);
        wake?.();
      },
      async read(): Promise<Uint8Array | null> {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        return queue.shift()!;
      },
    };
  };
  const toServer = mk(), toClient = mk();
  const frames = () => new FrameReader(() => MAX_HANDSHAKE_FRAME);
  return [
    {
      write: (b) => Promise.resolve(toServer.push(tamper(b))),
      read: toClient.read,
      frames: frames(),
    },
    { write: (b) => Promise.resolve(toClient.push(b)), read: toServer.read, frames: frames() },
  ];
}

const psk = derivePsk("trust test");
function side(i: number, trustRemote: boolean): HandshakeOptions {
  return {
    self: { name: `02:00:00:00:00:0${i}`, nickname: `n${i}`, uid: `000000000000000${i}`, port: 1 },
    signingKey: SigningKey.generate(),
    psk,
    authenticated: true,
    trustRemote,
  };
}

Deno.test("trust: each end learns in the handshake whether the other trusts it, both ways", async () => {
  for (const [c, s] of [[true, true], [true, false], [false, true], [false, false]]) {
    const [ci, si] = pipe();
    const [cr, sr] = await Promise.all([
      runHandshake(ci, true, side(1, c), () => {}),
      runHandshake(si, false, side(2, s), () => {}),
    ]);
    assert.equal(cr.trustedByRemote, s, `client learns the server's ${s}`);
    assert.equal(sr.trustedByRemote, c, `server learns the client's ${c}`);
  }
});
