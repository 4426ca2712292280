/**
 * Issue 12, an attacker that holds the password (as every node does, so one compromised node):
 * the same record forgeries for other peers' records as the non-peer suite, on an encrypted
 * cluster; and, without the password, the offline-guessing oracle: what one connection yields
 * must not let a captured frame test password guesses.
 * Negative control for the oracle: the offline test uses the product's own key schedule and the
 * real password among the guesses, so it finds the password whenever the victim sends anything
 * sealed under it before the client proved knowledge (as the review observed).
 */
import assert from "node:assert/strict";
import { IS_ROOT } from "../harness/netns.ts";
import { runClient } from "./attacker.ts";
import { forgerySuite } from "./gossip_forgery.ts";
import { allPending, attackStep } from "./pending.ts";

const PASSWORD = `wtatk-${crypto.randomUUID().slice(0, 8)}`;

Deno.test({
  name: "attack (issue 12, password holder): forged ipam ring, macs record, topology entry " +
    "(then rmpeer), foreign addresses, for other peers' records: no harm; and no offline " +
    "password-guessing oracle from one connection",
  ignore: !IS_ROOT ||
    allPending([
      "password-oracle",
      "foreign-dial-pw",
      "ipam-ring-pw",
      "macs-record-pw",
      "topology-entry-pw",
    ]),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    forgerySuite(t, PASSWORD, "-pw", async (c, a) => {
      await attackStep(
        t,
        "password-oracle",
        "one connection without the password yields " +
          "nothing that tests password guesses offline",
        async () => {
          const guesses = [...Array.from({ length: 50 }, (_, i) => `guess-${i}`), PASSWORD];
          const r = await runClient<
            { received: number; frames: number; opened: string[]; error: string }
          >(a.netns, "mesh", { cmd: "oracle", host: c.nodes[0].underlayIp, guesses }, 60_000);
          console.log(
            `  oracle: ${r.received} bytes, ${r.frames} frame(s) after the hello; ` +
              `guesses that opened one: ${r.opened.length}`,
          );
          assert.deepEqual(r.opened, [], "a captured frame confirmed a password guess offline");
        },
      );
    }),
});
