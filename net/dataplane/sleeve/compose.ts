/**
 * A message's wire body, ready for writeFragments (format.ts): unencrypted, the body (led by its
 * length when it takes several fragments); sealed, the ciphertext and tag, or for several
 * fragments the lead (total ‖ tag ‖ commit tag) and the ciphertext. Pure apart from the AEAD; the
 * results live in buffers the next call reuses.
 */
import { commitTag, sealChunks } from "./aead.ts";
import {
  AAD_LEN,
  COMMIT_AAD_LEN,
  type FragmentPlan,
  LEAD_PLAIN,
  type MessageHeader,
  planFragments,
  SLEEVE_FRAGMENT_HEADER,
  TAG_LEN,
  writeAad,
  writeFragmentHeader,
} from "./format.ts";

/** The key a message is sealed under, and its id (the header's bytes 8..15). */
export interface SealKey {
  id: Uint8Array;
  key: Uint8Array;
}

export class MessageComposer {
  readonly #aad = new Uint8Array(AAD_LEN);
  /** The commit tag's AAD (fragment 0's header, total, tag), then that tag: the lead from 42. */
  readonly #commit = new Uint8Array(COMMIT_AAD_LEN + TAG_LEN);
  readonly #lead = this.#commit.subarray(SLEEVE_FRAGMENT_HEADER);

  /**
   * The plan and chunks of message `body` under `header` (whose seq the caller set; its key id
   * is set here when sealed), for fragments of at most `segSize` bytes.
   */
  compose(
    header: MessageHeader,
    body: readonly Uint8Array[],
    key: SealKey | null,
    segSize: number,
  ): { plan: FragmentPlan; chunks: Uint8Array[] } {
    let len = 0;
    for (const c of body) len += c.length;
    const plan = planFragments(len, segSize, key !== null);
    if (!key) {
      if (plan.count === 1) return { plan, chunks: [...body] };
      writeU32(this.#lead, 0, plan.total);
      return { plan, chunks: [this.#lead.subarray(0, LEAD_PLAIN), ...body] };
    }
    header.keyId = key.id;
    writeAad(this.#aad, 0, header);
    const sealed = sealChunks(key.key, header.seq, this.#aad, [...body]);
    if (plan.count === 1) return { plan, chunks: sealed };
    // The tag travels in the lead, with the commit tag over fragment 0's header, the total and
    // that tag; the ciphertext follows.
    const c = this.#commit;
    writeFragmentHeader(c, 0, header, 0, plan.count, plan.per);
    writeU32(c, SLEEVE_FRAGMENT_HEADER, plan.total);
    c.set(sealed[sealed.length - 1], SLEEVE_FRAGMENT_HEADER + 4);
    c.set(commitTag(key.key, header.seq, c.subarray(0, COMMIT_AAD_LEN)), COMMIT_AAD_LEN);
    return { plan, chunks: [this.#lead, ...sealed.slice(0, -1)] };
  }
}

function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}
