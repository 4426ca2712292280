/** npc turned off (--no-npc): the component that removes what a previous run with npc loaded. */
import type { DaemonComponent } from "../daemon/component.ts";
import { runNft } from "../linux/nftables.ts";
import { NFPROTO_INET, readNftCounters } from "../linux/nft_counters.ts";
import type { Logger } from "../log.ts";
import { deleteScript, TABLE } from "./ruleset.ts";

/** With npc turned off: removes the rules a previous run with npc left, so nothing stale stays. */
export function npcOffComponent(log: Logger): DaemonComponent {
  return {
    name: "npc",
    start() {
      // Whether a previous run left its table, by its counters (a netlink read: listing the
      // table through libnftables would print all its elements, ~0.6 s with a large load).
      if (readNftCounters(NFPROTO_INET, TABLE).size === 0) return;
      runNft(deleteScript());
      log.warn(
        "network policies are not enforced (--no-npc): removed the rules of a previous run",
        {},
      );
    },
    status: () => ({
      service: "npc",
      fields: [["Status", "off (--no-npc): NetworkPolicies are not enforced"]],
    }),
  };
}
