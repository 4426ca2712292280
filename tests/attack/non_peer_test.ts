/**
 * Issues 12 and 13, an attacker on the underlay that is NOT a peer and has no password (the
 * shipped default), on one 3-node cluster: VXLAN and sleeve injection (issue 13), forged ipam
 * ring, macs record, topology entry then rmpeer, topology naming foreign addresses, then the
 * control-port floods (issue 12). Attacks that still succeed on main are pending (pending.ts).
 */
import { IS_ROOT } from "../harness/netns.ts";
import { attackCluster } from "./attacker.ts";
import { forgerySteps } from "./gossip_forgery.ts";
import { injectionSteps } from "./injection.ts";
import { MAC_CLAIM_IDS, macClaimSteps } from "./mac_claim.ts";
import { CONN_LIMIT, floodSteps } from "./mesh_flood.ts";
import { allPending } from "./pending.ts";

Deno.test({
  name: "attack (issues 12 and 13, non-peer, no password): VXLAN and sleeve injection; forged " +
    "ipam ring, macs record, topology entry (then rmpeer), foreign addresses; stalled " +
    "handshakes, --conn-limit filled, half-sent frames, a maximal topology message: no harm",
  ignore: !IS_ROOT || allPending([
    "inject-vxlan",
    "inject-sleeve",
    "foreign-dial",
    "ipam-ring",
    "macs-record",
    "topology-entry",
    ...MAC_CLAIM_IDS,
    "stall-flood",
    "conn-limit",
    "half-frames",
    "max-topology",
  ]),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    attackCluster({ daemonArgs: ["--conn-limit", `${CONN_LIMIT}`] }, async (c, a) => {
      await injectionSteps(t, c, a);
      await forgerySteps(t, c, a, undefined);
      await macClaimSteps(t, c, a, undefined);
      await floodSteps(t, c, a);
    }),
});
