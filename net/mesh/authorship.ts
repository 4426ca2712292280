/**
 * Whether a topology entry was written by the peer it describes (docs/PROTOCOL.md, "Authorship").
 * Pure apart from the signature check (node:crypto).
 *
 * An entry carries its author's public key and signature. When a key is bound to the name, the
 * entry must carry that key and verify under it; when none is bound yet, an entry that verifies
 * under the key it carries binds that key (trust on first use, or confirmation of the key the
 * Kubernetes API published). Each check costs one Ed25519 verification (about 55 µs): callers
 * check only entries that would change what they hold.
 */
import type { PeerKeys } from "./keys.ts";
import { verifySignature } from "./signing.ts";
import { ENTRY_DOMAIN, type PeerEntry, signedPart } from "./topology.ts";

export type EntryVerdict =
  | "valid"
  /** Another key than the one bound to the name: a forgery, or a peer that lost its key. */
  | "key-mismatch"
  /** The signature does not verify: a forgery or a corrupted entry. */
  | "bad-signature"
  /** No key can be bound for the name now (not vouched for by the Kubernetes API, registry
   * full): dropped without blame; anti-entropy brings the entry again. */
  | "unknown-author"
  /** The key was forgotten by rmpeer: its entries still circulate for a while, without blame. */
  | "revoked";

/** Verdicts that mean someone sent a record it could not have been given by its author. */
export function isForgery(v: string): boolean {
  return v === "key-mismatch" || v === "bad-signature";
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class EntryVerifier {
  /** Signature verifications done (the CPU cost of authorship). */
  verifications = 0;

  constructor(
    readonly keys: PeerKeys,
    private readonly verify: typeof verifySignature = verifySignature,
  ) {}

  check(e: PeerEntry, now: number): EntryVerdict {
    const bound = this.keys.get(e.name);
    if (bound && !sameBytes(bound, e.key)) return "key-mismatch";
    this.verifications++;
    if (!this.verify(e.key, ENTRY_DOMAIN, signedPart(e), e.signature)) return "bad-signature";
    // Also when already bound (e.g. by the peer's handshake): its signed entry confirms the key,
    // which makes the peer known (PeerKeys.isKnown: bigger frames, the reserved connections).
    const r = this.keys.bind(e.name, e.key, "topology", now);
    if (r.ok || bound) return "valid";
    if (r.refusal === "revoked") return "revoked";
    if (r.refusal === "key-change" || r.refusal === "own-name") return "key-mismatch";
    return "unknown-author";
  }
}
