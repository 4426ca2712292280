/**
 * Masquerading kept in step with IPAM: the rules (node/netfilter.ts) are rewritten only when this
 * peer's own ranges (NO_MASQ_LOCAL) changed since the last write that succeeded, so the data
 * plane's loop may ask on every pass without running nft each time.
 */
import type { Logger } from "../../log.ts";
import { applyMasquerade, type MasqueradeRules } from "./netfilter.ts";

export interface MasqueradeOptions {
  /** The pod range; without it there is nothing to masquerade. */
  podCidr?: string;
  /** This peer's owned ranges now (IPAM). */
  localRanges?: () => string[];
  log: Logger;
  /** Writes the rules (nft by default; a double in tests). */
  apply?: (r: MasqueradeRules) => Promise<void>;
}

export class Masquerade {
  readonly #o: MasqueradeOptions;
  /** The local ranges of the last successful write. */
  #applied: string | undefined;

  constructor(o: MasqueradeOptions) {
    this.#o = o;
  }

  /** (Re)writes the masquerading rules when the local ranges changed; rejects when nft fails. */
  async refresh(): Promise<void> {
    const { podCidr, log } = this.#o;
    if (!podCidr) return;
    const localRanges = this.#o.localRanges?.() ?? [];
    const key = localRanges.join(",");
    if (key === this.#applied) return;
    await (this.#o.apply ?? applyMasquerade)({ podCidr, localRanges });
    this.#applied = key;
    log.info("masquerading set", { podCidr, unmasqueradedLocal: localRanges });
  }
}
