/**
 * TEST DOUBLE: per-peer Ed25519 keys for in-memory meshes, with the same `sign`/`verify`
 * semantics as the daemon's mesh (real signatures). Keys are derived from the peer name, so runs
 * are reproducible and separate processes agree on every peer's key without exchanging them;
 * `forget` makes a peer "unknown-author" (as before its topology entry has arrived).
 */
import { createHash } from "node:crypto";
import type { MeshView, PeerName, SignatureCheck } from "../gossip_channel.ts";
import { SigningKey, verifySignature } from "../signing.ts";

export class TestKeyring {
  readonly #keys = new Map<PeerName, SigningKey>();
  readonly #forgotten = new Set<PeerName>();

  /** The key of `peer`, made on first use (a seed derived from the name). */
  key(peer: PeerName): SigningKey {
    let k = this.#keys.get(peer);
    if (!k) {
      const seed = createHash("sha256").update(`weavets test key ${peer}`).digest();
      k = SigningKey.fromSeed(new Uint8Array(seed));
      this.#keys.set(peer, k);
    }
    return k;
  }

  /** Forgets `peer`'s key: its records become "unknown-author" until `learn(peer)`. */
  forget(peer: PeerName): void {
    this.#forgotten.add(peer);
  }

  learn(peer: PeerName): void {
    this.#forgotten.delete(peer);
  }

  /** The authorship half of a MeshView for `self` (vouching and forgetting act on the keyring). */
  view(
    self: PeerName,
  ): Pick<
    MeshView,
    "sign" | "verify" | "publicKey" | "vouchKey" | "trustOnlyVouchedKeys" | "forgetPeer"
  > {
    return {
      publicKey: this.key(self).publicKey,
      vouchKey: (name) => {
        this.learn(name);
        return { ok: true };
      },
      trustOnlyVouchedKeys: () => {},
      forgetPeer: (name) => this.forget(name),
      sign: (domain, payload) => this.key(self).sign(domain, payload),
      verify: (author, domain, payload, signature): SignatureCheck => {
        if (this.#forgotten.has(author)) return "unknown-author";
        return verifySignature(this.key(author).publicKey, domain, payload, signature)
          ? "valid"
          : "invalid";
      },
    };
  }
}
