/**
 * The registry of peers' signing public keys: which Ed25519 key speaks for which peer name. Every
 * signature check in the mesh (topology entries, gossip envelopes, components' records through
 * MeshView.verify) goes through a binding made here. Pure: no I/O, time is passed in.
 *
 * Rules (docs/PROTOCOL.md, "Authorship"):
 * - The first key seen for a name is bound (trust on first use): from the handshake with that
 *   peer, from its signed topology entry, from the Kubernetes API or from an earlier run.
 * - A different key for a bound name is refused, unless the Kubernetes API vouches for it (a
 *   "kube" binding replaces any other) or the old peer is gone for good (`forget`, from rmpeer or
 *   a deleted Node). A forgotten key stays revoked for REVOKED_MS, so gossip still carrying it
 *   cannot bring it back before every peer has dropped the old entry; only the API overrides.
 * - Our own name is bound to our own key only.
 * - With `kubeAuthority`, only keys the Kubernetes API vouches for count: the handshake and the
 *   topology may confirm a key, never introduce one, and bindings from other sources (an earlier
 *   run without `--kube`) are ignored until the API vouches for them.
 */
import type { PeerName, SignatureCheck } from "./gossip_channel.ts";
import {
  publicKeyFromText,
  publicKeyToText,
  SIGNING_PUBLIC_KEY_BYTES,
  verifySignature,
} from "./signing.ts";

export type KeySource = "self" | "handshake" | "topology" | "kube" | "persisted";

/** Why a binding was refused: a counter label each. */
export type BindRefusal =
  /** Another key is bound for the name: a forgery, or a peer that lost its key (see rmpeer). */
  | "key-change"
  /** The key was forgotten by rmpeer (or its Node deleted) and may not come back. */
  | "revoked"
  /** Someone presents another key for this peer's own name. */
  | "own-name"
  /** With the Kubernetes API as authority: no key published for this name (yet). */
  | "unvouched"
  /** The registry is full of bindings still in use. */
  | "full"
  /** Not 32 bytes. */
  | "malformed";

export type BindResult =
  | {
    ok: true; /** True when this bound a new key for the name (not just confirmed it). */
    changed: boolean;
  }
  | { ok: false; refusal: BindRefusal; reason: string };

/** What is persisted across restarts (text keys; revocations with their expiry). */
export interface KeysSnapshot {
  bindings: Array<[PeerName, string]>;
  revoked: Array<[PeerName, string, number]>;
}

export interface Binding {
  key: Uint8Array;
  /** `publicKeyToText(key)`, kept to compare and persist without re-encoding. */
  text: string;
  source: KeySource;
  /** When the key was first bound for this name. */
  since: number;
}

/** The strongest source that confirmed a binding is kept (for `isKnown`). */
const RANK: Record<KeySource, number> = {
  handshake: 0,
  topology: 1,
  persisted: 2,
  kube: 3,
  self: 4,
};

export interface PeerKeysOptions {
  self: PeerName;
  selfKey: Uint8Array;
  /** With `--kube`: only keys the Kubernetes API vouches for are bound (see the module doc). */
  kubeAuthority?: boolean;
  /** At most this many bindings (each 100 bytes or so); beyond it unused weak ones are evicted. */
  maxBindings?: number;
  /** A shared, read-only set of bindings under this one's (the simulator's thousands of peers). */
  base?: ReadonlyMap<PeerName, Uint8Array>;
  /** True when a name is still in use (e.g. in the topology): its binding is never evicted. */
  inUse?: (name: PeerName) => boolean;
}

export const DEFAULT_MAX_BINDINGS = 16_384;
/**
 * How long a forgotten key stays refused: far longer than an unreachable peer's entry lives
 * anywhere (a minute), short enough that a peer rmpeer'd by mistake can come back with its key.
 */
export const REVOKED_MS = 30 * 60_000;
/** Revoked keys remembered per name, and names with revoked keys. */
const MAX_REVOKED_PER_NAME = 4;
const MAX_REVOKED_NAMES = 4_096;

export class PeerKeys {
  readonly self: PeerName;
  readonly #bindings = new Map<PeerName, Binding>();
  readonly #revoked = new Map<PeerName, Array<{ text: string; until: number }>>();
  readonly #base: ReadonlyMap<PeerName, Uint8Array>;
  readonly #forgottenBase = new Set<PeerName>();
  readonly #max: number;
  readonly #inUse: (name: PeerName) => boolean;
  readonly #listeners = new Set<(name: PeerName) => void>();
  readonly refusals = new Map<BindRefusal, number>();
  /** Bumped on every change of bindings or revocations (what a persister watches). */
  revision = 0;
  kubeAuthority: boolean;

  constructor(opts: PeerKeysOptions) {
    this.self = opts.self;
    this.kubeAuthority = opts.kubeAuthority ?? false;
    this.#base = opts.base ?? new Map();
    this.#max = opts.maxBindings ?? DEFAULT_MAX_BINDINGS;
    this.#inUse = opts.inUse ?? (() => false);
    this.#bindings.set(opts.self, {
      key: opts.selfKey.slice(),
      text: publicKeyToText(opts.selfKey),
      source: "self",
      since: 0,
    });
  }

  /**
   * Binds `key` to `name`, or confirms the binding (then only the source may be upgraded), or
   * refuses. A refusal is counted here; the caller logs it (rate-limited) and drops what came
   * with it.
   */
  bind(name: PeerName, key: Uint8Array, source: KeySource, now: number): BindResult {
    if (key.length !== SIGNING_PUBLIC_KEY_BYTES) {
      return this.#refuse("malformed", `a signing key has 32 bytes, not ${key.length}`);
    }
    const text = publicKeyToText(key);
    const stored = this.#binding(name);
    const cur = this.#usable(stored);
    if (cur?.text === text) {
      if (RANK[source] > RANK[cur.source] && source !== "self") {
        this.#bindings.set(name, { ...cur, source });
        this.revision++;
      }
      return { ok: true, changed: false };
    }
    if (name === this.self || source === "self") {
      return this.#refuse("own-name", `another key presented for this peer's own name ${name}`);
    }
    if (source !== "kube" && this.#isRevoked(name, text, now)) {
      return this.#refuse(
        "revoked",
        `the key of ${name} was revoked (rmpeer, or its node was deleted)`,
      );
    }
    if (source !== "kube") {
      if (cur) {
        return this.#refuse(
          "key-change",
          `${name} presents another key than the one bound to it (${
            cur.text.slice(0, 8)
          }… from ${cur.source}): refused; if that peer lost its key for good, run rmpeer for it`,
        );
      }
      if (this.kubeAuthority && source !== "persisted") {
        return this.#refuse(
          "unvouched",
          `no key published for ${name} on a Kubernetes Node (yet)`,
        );
      }
    }
    if (!stored && !this.#makeRoom()) {
      return this.#refuse("full", `${this.#max} peer keys bound, all in use`);
    }
    this.#bindings.set(name, { key: key.slice(), text, source, since: now });
    this.revision++;
    if (stored && stored.text !== text) this.#notify(name); // the API replaced another key
    return { ok: true, changed: true };
  }

  /** Checks that `author` signed `payload` under `domain` with the key bound to its name. */
  verify(
    author: PeerName,
    domain: string,
    payload: Uint8Array,
    signature: Uint8Array,
  ): SignatureCheck {
    const key = this.get(author);
    if (!key) return "unknown-author";
    return verifySignature(key, domain, payload, signature) ? "valid" : "invalid";
  }

  get(name: PeerName): Uint8Array | undefined {
    return this.#usable(this.#binding(name))?.key;
  }

  /** The binding of `name`, if any. */
  binding(name: PeerName): Readonly<Binding> | undefined {
    return this.#usable(this.#binding(name));
  }

  /** A key is bound by a source that vouches for it: not only the peer's own handshake. */
  isKnown(name: PeerName): boolean {
    const b = this.#usable(this.#binding(name));
    return b !== undefined && b.source !== "handshake";
  }

  /**
   * rmpeer: the peer is gone for good; a new key may be bound for the name, and the old one is
   * refused for REVOKED_MS (except from the Kubernetes API).
   */
  forget(name: PeerName, now: number): void {
    if (name === this.self) return;
    const cur = this.#binding(name);
    if (!cur) return;
    this.#bindings.delete(name);
    if (this.#base.has(name)) this.#forgottenBase.add(name);
    this.#revoke(name, cur.text, now + REVOKED_MS);
    this.revision++;
    this.#notify(name);
  }

  /** Called when the key bound to a name is replaced (Kubernetes) or forgotten. */
  onRebind(cb: (name: PeerName) => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /** Bindings to persist (not our own), and the revoked keys with when they expire. */
  snapshot(): KeysSnapshot {
    const bindings: Array<[PeerName, string]> = [];
    for (const [name, b] of this.#bindings) if (name !== this.self) bindings.push([name, b.text]);
    const revoked: KeysSnapshot["revoked"] = [];
    for (const [name, list] of this.#revoked) {
      for (const r of list) revoked.push([name, r.text, r.until]);
    }
    return { bindings, revoked };
  }

  /** Restores an earlier run's snapshot: its bindings as "persisted", its revocations. */
  restore(snap: KeysSnapshot, now: number): void {
    for (const [name, text, until] of snap.revoked) {
      if (until > now) this.#revoke(name, text, until);
    }
    for (const [name, text] of snap.bindings) {
      this.bind(name, publicKeyFromText(text), "persisted", now);
    }
  }

  get size(): number {
    return this.#bindings.size;
  }

  /** With the Kubernetes API as authority, only what it vouched for (and our own key) counts. */
  #usable(b: Binding | undefined): Binding | undefined {
    if (!b || !this.kubeAuthority || b.source === "kube" || b.source === "self") return b;
    return undefined;
  }

  #binding(name: PeerName): Binding | undefined {
    const b = this.#bindings.get(name);
    if (b) return b;
    const k = this.#base.get(name);
    if (!k || this.#forgottenBase.has(name)) return undefined;
    const fromBase: Binding = { key: k, text: publicKeyToText(k), source: "topology", since: 0 };
    return fromBase;
  }

  #isRevoked(name: PeerName, text: string, now: number): boolean {
    return this.#revoked.get(name)?.some((r) => r.text === text && r.until > now) ?? false;
  }

  #revoke(name: PeerName, text: string, until: number): void {
    const list = (this.#revoked.get(name) ?? []).filter((r) => r.text !== text);
    list.push({ text, until });
    if (list.length > MAX_REVOKED_PER_NAME) list.shift();
    this.#revoked.delete(name);
    this.#revoked.set(name, list);
    if (this.#revoked.size > MAX_REVOKED_NAMES) {
      this.#revoked.delete(this.#revoked.keys().next().value!);
    }
  }

  /** Evicts the oldest weak binding no longer in use when full; false when nothing can go. */
  #makeRoom(): boolean {
    if (this.#bindings.size < this.#max) return true;
    let victim: PeerName | undefined;
    let oldest = Infinity;
    for (const [name, b] of this.#bindings) {
      if (RANK[b.source] > RANK.topology || b.since >= oldest || this.#inUse(name)) continue;
      victim = name;
      oldest = b.since;
    }
    if (victim === undefined) return false;
    this.#bindings.delete(victim);
    return true;
  }

  #refuse(refusal: BindRefusal, reason: string): BindResult {
    this.refusals.set(refusal, (this.refusals.get(refusal) ?? 0) + 1);
    return { ok: false, refusal, reason };
  }

  #notify(name: PeerName): void {
    for (const cb of this.#listeners) cb(name);
  }
}
