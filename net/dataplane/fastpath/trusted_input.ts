/**
 * With a password and --trusted-subnets, the fast-path port takes VXLAN only from the peers whose
 * traffic is plaintext by agreement (plan.ts `plaintext`), not from every peer the input
 * allow-list (node/allowlist.ts) admits. Otherwise anyone able to send from an untrusted peer's
 * address (a spoofed source from outside the trusted subnets) could put unauthenticated frames
 * on the bridge, past the encryption that peer's traffic is supposed to have. Pure: the table as
 * an nft script, replaced whole in one transaction; fastpath/device.ts applies it before the
 * device exists and removes it with the device. A base chain of its own: a drop in any table
 * drops the packet, so nothing in the allow-list's table needs to change.
 */
import { isIPv4 } from "../../addr/mod.ts";

export const TRUSTED_INPUT_TABLE = "weavets_fastdp";
const TABLE = `inet ${TRUSTED_INPUT_TABLE}`;
/** The counter of datagrams to the fast-path port refused here. */
export const TRUSTED_REFUSED_COUNTER = "refused_untrusted";

/** The table: UDP to `port` only from `allowed` (IPv4; anything else is ignored) and loopback. */
export function trustedInputScript(port: number, allowed: readonly string[]): string {
  const addrs = [...new Set(allowed.filter((a) => isIPv4(a)))].sort();
  return [
    `add table ${TABLE}`,
    `delete table ${TABLE}`,
    `table ${TABLE} {`,
    `  counter ${TRUSTED_REFUSED_COUNTER} {}`,
    `  set trusted {`,
    `    type ipv4_addr`,
    ...(addrs.length ? [`    elements = { ${addrs.join(", ")} }`] : []),
    `  }`,
    `  chain input {`,
    // Before the allow-list's chain (priority filter): refused here, counted here.
    `    type filter hook input priority filter - 1; policy accept;`,
    `    iif "lo" accept`,
    `    meta nfproto ipv4 udp dport ${port} ip saddr != @trusted counter name ` +
    `${TRUSTED_REFUSED_COUNTER} drop`,
    `    meta nfproto ipv6 udp dport ${port} counter name ${TRUSTED_REFUSED_COUNTER} drop`,
    `  }`,
    `}`,
  ].join("\n") + "\n";
}

export function removeTrustedInputScript(): string {
  return `add table ${TABLE}\ndelete table ${TABLE}\n`;
}
