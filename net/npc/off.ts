/** npc turned off (--no-npc): the component that removes what a previous run with npc loaded. */
import type { DaemonComponent } from "../daemon/component.ts";
import { NftError, runNft } from "../linux/nftables.ts";
import type { Logger } from "../log.ts";
import { deleteScript, FAMILY_TABLE } from "./ruleset.ts";

/** With npc turned off: removes the rules a previous run with npc left, so nothing stale stays. */
export function npcOffComponent(log: Logger): DaemonComponent {
  return {
    name: "npc",
    start() {
      try {
        runNft(`list table ${FAMILY_TABLE}`);
      } catch (e) {
        if (e instanceof NftError) return; // no table: nothing to remove
        throw e;
      }
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
