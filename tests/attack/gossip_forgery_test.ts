/**
 * Issue 12, a non-peer without the password (the shipped default): forged ipam ring, macs
 * record, topology entry (then rmpeer of the live peer), topology naming foreign addresses.
 */
import { IS_ROOT } from "../harness/netns.ts";
import { forgerySuite } from "./gossip_forgery.ts";
import { allPending } from "./pending.ts";

Deno.test({
  name: "attack (issue 12, non-peer, no password): forged ipam ring, macs record, topology " +
    "entry (then rmpeer of the live peer), topology naming foreign addresses: no harm",
  ignore: !IS_ROOT || allPending(["foreign-dial", "ipam-ring", "macs-record", "topology-entry"]),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) => forgerySuite(t),
});
