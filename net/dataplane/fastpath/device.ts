/**
 * The fast path's kernel device over the daemon's life. Without a password it is set up (or
 * adopted) at start and stays. With one, it exists only while some peer may be sent plaintext
 * (--trusted-subnets, plan.ts vxlanWanted): created when the first mutually trusted peer appears,
 * deleted with its FDB and its UDP socket when the last one goes (issue 13: no plaintext path
 * exists unless a trusted peer uses it). Transitions run one at a time, the latest wish wins.
 */
import type { Logger } from "../../log.ts";
import { describeCause } from "../../cause.ts";
import { applySplitHorizon, removeSplitHorizon } from "../node/netfilter.ts";
import { findLink } from "../../linux/mod.ts";
import { actualFdb, ensureVxlan, reconcileFdb, removeVxlan, type VxlanSetup } from "./vxlan.ts";
import { runNft } from "../../linux/nftables.ts";
import { removeTrustedInputScript, trustedInputScript } from "./trusted_input.ts";

/** The kernel operations the device needs (the real ones by default; tests pass fakes). */
export interface DeviceOps {
  ensureVxlan(v: VxlanSetup): string[];
  removeVxlan(name: string): string[];
  applySplitHorizon(tap: string, vxlan: string): Promise<void>;
  removeSplitHorizon(): Promise<void>;
  fdbDestinations(name: string): string[];
  nft(script: string): void;
  /** A VXLAN device of this name exists. */
  exists(name: string): boolean;
  /** Deletes the device's entries whose destination `keep` refuses. */
  pruneFdb(name: string, keep: (dst: string) => boolean): void;
}

const KERNEL: DeviceOps = {
  ensureVxlan,
  removeVxlan,
  applySplitHorizon,
  removeSplitHorizon,
  fdbDestinations: (name) => actualFdb(name).map((e) => e.dst),
  nft: (script) => void runNft(script),
  exists: (name) => findLink(name)?.kind === "vxlan",
  pruneFdb: (name, keep) => void reconcileFdb(name, actualFdb(name).filter((e) => keep(e.dst))),
};

export interface FastPathDeviceOptions {
  setup: VxlanSetup;
  tapName: string;
  log: Logger;
  /** After a transition made at run time (the caller re-plans and reconciles the FDB). */
  onChanged?: () => void;
  /**
   * With a password: the port takes VXLAN only from the addresses given to `allow` (the trusted
   * peers'), through trusted_input.ts's table, written before the device exists.
   */
  guarded?: boolean;
  ops?: DeviceOps;
}

export interface AdoptResult {
  changed: string[];
  /** Underlay addresses the device's FDB held at start (kept). */
  adopted: string[];
}

/**
 * The device at the data plane's start: without a password (fast path on) set up or adopted with
 * all its entries; with one, only what trusted peers use is kept (adoptTrusted), the rest created
 * at run time; fast path off: removed.
 */
export function startDevice(
  d: FastPathDevice,
  mode: { fastdp: boolean; encrypted: boolean; trusted: (dst: string) => boolean },
): Promise<AdoptResult> {
  if (!mode.fastdp) return d.remove().then((changed) => ({ changed, adopted: [] }));
  return mode.encrypted ? d.adoptTrusted(mode.trusted) : d.ensure();
}

export class FastPathDevice {
  #up = false;
  #wish: boolean | undefined;
  #chain: Promise<void> = Promise.resolve();
  readonly #ops: DeviceOps;
  #allowed: string[] = [];
  /** The allowed addresses as the kernel's table has them; undefined: no table of ours. */
  #guardApplied: string | undefined;
  constructor(readonly opts: FastPathDeviceOptions) {
    this.#ops = opts.ops ?? KERNEL;
  }

  /** The device is set up (FDB entries may be programmed). */
  get up(): boolean {
    return this.#up;
  }

  /** Creates or adopts the device; returns what changed and the underlay addresses in its FDB. */
  async ensure(): Promise<{ changed: string[]; adopted: string[] }> {
    // The port never opens unguarded: the table first (a failure here leaves no device).
    // Unguarded (no password), a table left by an earlier encrypted run would cut peers off.
    if (this.opts.guarded) this.#writeGuard();
    else this.#removeGuard();
    const changed = this.#ops.ensureVxlan(this.opts.setup);
    await this.#ops.applySplitHorizon(this.opts.tapName, this.opts.setup.name);
    this.#up = true;
    return { changed, adopted: this.#ops.fdbDestinations(this.opts.setup.name) };
  }

  /** Removes a device of ours (and the split horizon); returns what changed. */
  async remove(): Promise<string[]> {
    this.#up = false;
    const changed = this.#ops.removeVxlan(this.opts.setup.name);
    // With the device gone no plaintext path is left; a split-horizon rule that cannot be removed
    // only names a device that no longer exists, so it is worth a warning, not a failed start.
    try {
      await this.#ops.removeSplitHorizon();
    } catch (e) {
      this.opts.log.warn("cannot remove the fast path's split-horizon rule", {
        error: describeCause(e),
        hint: "check that nftables works on the node: nft list ruleset",
      });
    }
    this.#removeGuard();
    return changed;
  }

  /**
   * The addresses the port may take VXLAN from (guarded only): written at once while the device
   * is up, else at its next set-up. A refused write is logged and retried on the next call.
   */
  allow(addresses: readonly string[]): void {
    this.#allowed = [...new Set(addresses)].sort();
    if (!this.opts.guarded || !this.#up || this.#guardApplied === this.#allowed.join()) return;
    try {
      this.#writeGuard();
    } catch (e) {
      this.opts.log.error("cannot update the fast path's trusted-peer filter", {
        error: describeCause(e),
        hint: "check that nftables works on the node: nft list ruleset",
      });
    }
  }

  #removeGuard(): void {
    this.#ops.nft(removeTrustedInputScript());
    this.#guardApplied = undefined;
  }

  #writeGuard(): void {
    this.#ops.nft(trustedInputScript(this.opts.setup.port, this.#allowed));
    this.#guardApplied = this.#allowed.join();
  }

  /**
   * With a password, at start: a device the previous run left (a restart) is kept for the peers
   * it still points at inside `trusted` (their kernel path stays up while the handshakes and
   * gossip catch up), its other FDB entries deleted first; none left: removed. Returns the
   * addresses kept (the caller's adoption grace) and what changed.
   */
  async adoptTrusted(trusted: (dst: string) => boolean): Promise<AdoptResult> {
    const name = this.opts.setup.name;
    if (this.#ops.exists(name)) {
      this.#ops.pruneFdb(name, trusted);
      const kept = [...new Set(this.#ops.fdbDestinations(name))].sort();
      if (kept.length) {
        this.#allowed = kept;
        const r = await this.ensure();
        this.#wish = true;
        return { changed: r.changed, adopted: kept };
      }
    }
    return { changed: await this.remove(), adopted: [] };
  }

  /** Asks for the device to be there or not; acts when that differs from now. */
  want(on: boolean): Promise<void> {
    if (this.#wish === on) return this.#chain;
    this.#wish = on;
    this.#chain = this.#chain.then(async () => {
      // Removal is tried even when it looks done: a failed one may have left the device.
      if (this.#wish !== on || (on && this.#up)) return;
      try {
        if (on) {
          const r = await this.ensure();
          this.opts.log.warn(
            "fast path device set up for trusted peers: their traffic is NOT " +
              "encrypted (--trusted-subnets)",
            { device: this.opts.setup.name, changed: r.changed },
          );
        } else {
          const changed = await this.remove();
          if (changed.length) {
            this.opts.log.info("fast path device removed: no trusted peer left", { changed });
          }
        }
      } catch (e) {
        // Asked again on the next plan (every reconcile interval at the latest).
        this.#wish = undefined;
        this.opts.log.error(`cannot ${on ? "set up" : "remove"} the fast path device`, {
          device: this.opts.setup.name,
          error: describeCause(e),
        });
      }
      this.opts.onChanged?.();
    });
    return this.#chain;
  }
}
