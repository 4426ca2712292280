/**
 * A non-peer without the password (the shipped default), on one cluster: issue 13's VXLAN and
 * sleeve injection (harmless, so first), then issue 12's forged ipam ring, macs record, topology
 * entry (then rmpeer of the live peer), topology naming foreign addresses.
 */
import { IS_ROOT } from "../harness/netns.ts";
import { forgerySuite } from "./gossip_forgery.ts";
import { injectionSteps } from "./injection.ts";
import { allPending } from "./pending.ts";

Deno.test({
  name: "attack (issues 12 and 13, non-peer, no password): VXLAN and sleeve injection; forged " +
    "ipam ring, macs record, topology entry (then rmpeer of the live peer), topology naming " +
    "foreign addresses: no harm",
  ignore: !IS_ROOT || allPending([
    "inject-vxlan",
    "inject-sleeve",
    "foreign-dial",
    "ipam-ring",
    "macs-record",
    "topology-entry",
  ]),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) => forgerySuite(t, undefined, "", (c, a) => injectionSteps(t, c, a)),
});
