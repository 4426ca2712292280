import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import {
  KeyFileError,
  loadOrCreateSigningKey,
  PEER_KEYS_FILE,
  persistPeerKeys,
  SIGNING_KEY_FILE,
} from "./key_files.ts";
import { PeerKeys } from "./keys.ts";
import { TestKeyring } from "./testing/keyring.ts";

function quiet(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger({ json: true, sink: { write: (l) => lines.push(l) } }), lines };
}

Deno.test("key files: the signing key is created 0600 once and kept across restarts", () => {
  const dir = Deno.makeTempDirSync({ prefix: "wt-keys-" });
  try {
    const { log } = quiet();
    const a = loadOrCreateSigningKey(dir, log);
    const file = `${dir}/${SIGNING_KEY_FILE}`;
    assert.equal(Deno.statSync(file).mode! & 0o777, 0o600);
    assert.deepEqual(loadOrCreateSigningKey(dir, log).publicKey, a.publicKey);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [SIGNING_KEY_FILE]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("key files: a key readable by others is made 0600; a damaged one is an error saying what to do", () => {
  const dir = Deno.makeTempDirSync({ prefix: "wt-keys-" });
  try {
    const { log, lines } = quiet();
    const a = loadOrCreateSigningKey(dir, log);
    const file = `${dir}/${SIGNING_KEY_FILE}`;
    Deno.chmodSync(file, 0o644);
    assert.deepEqual(loadOrCreateSigningKey(dir, log).publicKey, a.publicKey);
    assert.equal(Deno.statSync(file).mode! & 0o777, 0o600);
    assert.ok(lines.some((l) => l.includes("made it 0600")));
    Deno.writeTextFileSync(file, "garbage\n");
    assert.throws(
      () => loadOrCreateSigningKey(dir, log),
      (e) => e instanceof KeyFileError && /rmpeer/.test(e.message),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("key files: peers' bindings and revocations survive a restart", () => {
  const dir = Deno.makeTempDirSync({ prefix: "wt-keys-" });
  try {
    const { log } = quiet();
    const ring = new TestKeyring();
    const self = "02:00:00:00:00:01", a = "02:00:00:00:00:02", b = "02:00:00:00:00:03";
    const keys = () => new PeerKeys({ self, selfKey: ring.key(self).publicKey });
    const k1 = keys();
    const p1 = persistPeerKeys(k1, dir, log, 60_000);
    k1.bind(a, ring.key(a).publicKey, "handshake", Date.now());
    k1.bind(b, ring.key(b).publicKey, "topology", Date.now());
    k1.forget(b, Date.now());
    p1.stop();
    assert.equal(Deno.statSync(`${dir}/${PEER_KEYS_FILE}`).mode! & 0o777, 0o600);
    const k2 = keys();
    const p2 = persistPeerKeys(k2, dir, log, 60_000);
    p2.stop();
    assert.deepEqual(k2.get(a), ring.key(a).publicKey);
    assert.equal(k2.isKnown(a), true, "persisted vouches");
    assert.equal(k2.bind(a, ring.key("x").publicKey, "handshake", Date.now()).ok, false);
    assert.equal(k2.bind(b, ring.key(b).publicKey, "topology", Date.now()).ok, false, "revoked");
    // A damaged file: logged, and the daemon starts without it.
    Deno.writeTextFileSync(`${dir}/${PEER_KEYS_FILE}`, "{");
    const { log: log3, lines } = quiet();
    const k3 = keys();
    persistPeerKeys(k3, dir, log3, 60_000).stop();
    assert.equal(k3.get(a), undefined);
    assert.ok(lines.some((l) => l.includes("cannot read the peers' keys")));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
