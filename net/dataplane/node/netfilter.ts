/**
 * The data plane's netfilter rules, the one place weavets runs a command (nft — netfilter rules
 * have no stable netlink API worth re-implementing here). Each table is replaced atomically.
 * - `ip weavets`: masquerading for traffic leaving the pod range, as Weave's `expose` does, with
 *   NO_MASQ_LOCAL.
 * - `bridge weavets`: split horizon between the two tunnel ports of the bridge. A frame that came
 *   from a peer over one path was sent by that peer to every peer itself, so it must never be
 *   relayed over the other path (duplicates, loops, MACs flapping between ports) — except the
 *   fast-path probes, which cross between the VXLAN device and the TAP on purpose.
 */
import { describeCause } from "../../cause.ts";
import { NOT_INSTALLED, runCommand } from "../../linux/command.ts";
import { PROBE_ETHERTYPE } from "../fastpath/probe.ts";
import { WeavetsError } from "../../errors.ts";

export interface MasqueradeRules {
  /** The whole pod range, e.g. "10.32.0.0/12". */
  podCidr: string;
  /**
   * NO_MASQ_LOCAL: the local peer's pod ranges. Traffic from outside to these keeps its client
   * source address (local pods answer through this host anyway), which
   * externalTrafficPolicy=Local needs. Empty: masquerade as Weave did before 2.7.
   */
  localRanges: string[];
}

export const NFT_TABLE = "weavets";

/** The nft script (pure): deletes and recreates the table in one transaction. */
export function masqueradeScript(r: MasqueradeRules): string {
  const pod = r.podCidr;
  const lines = [
    `add table ip ${NFT_TABLE}`,
    `delete table ip ${NFT_TABLE}`,
    `table ip ${NFT_TABLE} {`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    `    ip saddr ${pod} ip daddr 224.0.0.0/4 return`,
  ];
  if (r.localRanges.length > 0) {
    lines.push(`    ip daddr { ${r.localRanges.join(", ")} } return`);
  }
  lines.push(
    `    ip daddr ${pod} ip saddr != ${pod} masquerade`,
    `    ip saddr ${pod} ip daddr != ${pod} masquerade`,
    `  }`,
    `}`,
  );
  return lines.join("\n") + "\n";
}

async function nft(script: string): Promise<void> {
  let out;
  try {
    out = await runCommand("nft", ["-f", "-"], script);
  } catch (e) {
    throw new WeavetsError("system", `cannot run nft: ${describeCause(e)}`);
  }
  if (out.code === NOT_INSTALLED) {
    throw new WeavetsError("system", "cannot run nft: it is not installed (install nftables)");
  }
  if (out.code !== 0) throw new WeavetsError("system", `nft failed: ${out.stderr.trim()}`);
}

/** Installs (or replaces) the rules. Must run in the node's namespace (the daemon's own). */
export function applyMasquerade(r: MasqueradeRules): Promise<void> {
  return nft(masqueradeScript(r));
}

/** The bridge split-horizon script (pure) for the TAP and VXLAN ports. */
export function splitHorizonScript(tap: string, vxlan: string): string {
  const probe = `0x${PROBE_ETHERTYPE.toString(16)}`;
  return [
    `add table bridge ${NFT_TABLE}`,
    `delete table bridge ${NFT_TABLE}`,
    `table bridge ${NFT_TABLE} {`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy accept;`,
    `    iifname "${tap}" oifname "${vxlan}" ether type != ${probe} drop`,
    `    iifname "${vxlan}" oifname "${tap}" ether type != ${probe} drop`,
    `  }`,
    `}`,
  ].join("\n") + "\n";
}

export function applySplitHorizon(tap: string, vxlan: string): Promise<void> {
  return nft(splitHorizonScript(tap, vxlan));
}

/** With the fast path off there is nothing to split: the bridge table goes (absent is fine). */
export function removeSplitHorizon(): Promise<void> {
  return nft(`add table bridge ${NFT_TABLE}\ndelete table bridge ${NFT_TABLE}\n`);
}
