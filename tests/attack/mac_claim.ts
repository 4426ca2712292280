/**
 * Issue 12's last attacks: a real mesh member (it holds the password when the cluster has one)
 * announces its OWN macs record, validly signed with its own key, claiming other nodes' pod MACs
 * at a far higher version. Signatures cannot refuse it (the record is the rogue's own); the rule
 * that does is MAC ownership (docs/PROTOCOL.md §8, net/dataplane/fastpath/fdb.ts macOwners): a
 * MAC stays with the peer that announces it for as long as that peer's record lists it.
 *
 * The rogue is the attack client (mesh_client.ts `join`, built from the product's connection and
 * handshake modules) kept connected to n1 across the steps, with its own signed topology entry
 * listing that connection, so it is a reachable peer everywhere, and its traffic goes on the
 * userspace path (its record offers no VXLAN). What it would steal shows on the underlay as
 * userspace-path datagrams addressed to it (unicast, destination = its name).
 *
 * Steps:
 * - control: the rogue claims a MAC nobody announces: accepted, as the design allows (a new pod
 *   is anyone's to announce first), and a pod's frames to that MAC go to the rogue. This is the
 *   negative control: the same oracle sees a claim that takes effect.
 * - claim: the rogue claims n2's and n3's pod MACs: every other node's FDB for them still points
 *   at their owners, pods reach n2's pod with 0 loss, no frame is addressed to the rogue, and n1
 *   and n3 log the refused claim naming the rogue.
 * - victim down: n2's daemon is stopped; the rogue claims its MACs meanwhile (a fresh record):
 *   refused the same way, n2's record outlives its daemon (PROTOCOL.md); n2 restarted, its pod is
 *   reached again and nothing goes to the rogue.
 * - restart: n3's daemon restarts while the claim stands, with no history of who owned the MAC:
 *   it gives the MAC to nobody (flooded, so n2 still gets its frames) and logs the dispute.
 * - topology claim: the rogue's own entry lists connections to n2 and n3 it does not have: no
 *   route uses them (a connection counts only when both ends list it), so pod traffic sends no
 *   unicast datagram to the rogue's address (the control step shows that oracle seeing some).
 */
import assert from "node:assert/strict";
import { Cluster } from "../../cli/demo/cluster.ts";
import { formatIPv4, parseCidr } from "../../net/addr/mod.ts";
import { fdb, logMark, metric, peers, reaches, sleep } from "./attacker.ts";
import type { Attacker } from "./attacker.ts";
import { allPending, attackStep } from "./pending.ts";
import {
  fdbFor,
  framesToRogue,
  macOf,
  noLoss,
  recordVersion,
  refusalLogged,
  ROGUE,
  rogueMember,
  START_GRACE_MS,
  upMs,
} from "./rogue.ts";
import { pings } from "./sleeve_attack.ts";

type Node = Cluster["nodes"][number];

/** The MAC claims `node` refuses now (weavets_macs_disputed), by whether an owner kept the MAC. */
const disputes = (node: Node, owner: "kept" | "none") =>
  metric(node, "weavets_macs_disputed", { owner });

/** A MAC no node announces (the control's claim). */
const UNCLAIMED = "0a:58:0a:ee:ee:01";

export const MAC_CLAIM_IDS = [
  "mac-claim-control",
  "mac-claim",
  "mac-claim-down",
  "mac-claim-restart",
  "topology-claim",
];

/** The rogue member's steps on a cluster with a pod per node (attackCluster). Ids get `suffix`. */
export async function macClaimSteps(
  t: Deno.TestContext,
  c: Cluster,
  a: Attacker,
  password: string | undefined,
  suffix = "",
) {
  if (allPending(MAC_CLAIM_IDS.map((id) => `${id}${suffix}`))) return;
  const [n1, n2, n3] = c.nodes;
  const pods = c.nodes.map((n) => c.pods.find((p) => p.node === n)!);
  const victimMacs = [macOf(pods[1]), macOf(pods[2])];
  const rogue = await rogueMember(a, n1, password);
  try {
    // A daemon in its start grace keeps no MAC owner (a claim then only floods the MAC): the
    // claims below are judged against daemons past it, as in the full suite.
    await sleep(Math.max(0, START_GRACE_MS - Math.min(...c.nodes.map(upMs))));
    await rogue.announceSelf();
    await Cluster.waitFor("the rogue reachable from n1 and n3", async () => {
      for (const n of [n1, n3]) {
        if (!(await peers(n)).find((p) => p.name === ROGUE)?.reachable) return false;
      }
      return true;
    }, 15_000);

    await attackStep(
      t,
      `mac-claim-control${suffix}`,
      "the rogue's claim on a MAC nobody announces takes effect: a pod's frames to it go to " +
        "the rogue (the negative control)",
      async () => {
        await rogue.claim([UNCLAIMED], [n1]);
        // A static neighbour makes pod 1's frames to an unused address carry UNCLAIMED.
        const cidr = c.podAddresses(pods[0])[0];
        const { ip, prefix } = parseCidr(cidr);
        // The subnet's last host but one: no pod of this small cluster has it.
        const target = formatIPv4(((ip | (2 ** (32 - prefix) - 1)) >>> 0) - 1);
        const neigh = await c.run(pods[0].netns, "ip", [
          "neigh",
          "replace",
          target,
          "lladdr",
          UNCLAIMED,
          "dev",
          "eth0",
          "nud",
          "permanent",
        ]);
        assert.equal(neigh.code, 0, neigh.stderr);
        let stolen = 0;
        await Cluster.waitFor(
          "pod 1's frames for the unclaimed MAC to reach the rogue",
          async () => {
            stolen = await framesToRogue(c, () => pings(c, pods[0], target, 3));
            return stolen > 0;
          },
          15_000,
          500,
        );
        console.log(`  control: ${stolen} datagram(s) for ${UNCLAIMED} went to the rogue`);
      },
    );

    await attackStep(
      t,
      `mac-claim${suffix}`,
      "the rogue's own signed record claiming n2's and n3's pod MACs at a far higher version " +
        "is refused and logged; FDBs unchanged, 0 loss to n2's pod, nothing sent to the rogue",
      async () => {
        const before = [await fdb(n1), await fdb(n3)];
        const marks = [logMark(n1), logMark(n3)];
        await rogue.claim([...victimMacs, UNCLAIMED], [n1, n3]);
        // Traffic and FDB first: the harm is what counts, the log line only reports it.
        const stolen = await framesToRogue(c, async () => {
          await noLoss(c, pods[0], pods[1], 10);
          await noLoss(c, pods[2], pods[1], 10);
        });
        assert.equal(stolen, 0, "frames were addressed to the rogue");
        assert.deepEqual([await fdb(n1), await fdb(n3)], before, "FDBs after the claim");
        for (const n of [n1, n3]) {
          for (const e of await fdbFor(n, victimMacs[0])) {
            assert.equal(e, `${victimMacs[0]} ${n2.underlayIp}`, `${n.name}'s FDB`);
          }
        }
        console.log(`  n1's FDB for n2's pod: ${JSON.stringify(await fdbFor(n1, victimMacs[0]))}`);
        for (const [i, n] of [n1, n3].entries()) {
          await refusalLogged(n, marks[i], victimMacs[0]);
          assert.equal(await disputes(n, "kept"), 2, `${n.name}'s refused claims (metric)`);
        }
      },
    );

    await attackStep(
      t,
      `mac-claim-down${suffix}`,
      "while n2's daemon is down the rogue claims its pod's MAC: refused as if n2 were up; " +
        "n2 restarted, its pod is reached and nothing goes to the rogue",
      async () => {
        await rogue.claim([UNCLAIMED], [n1, n3]); // withdrawn: the next claim is a new dispute
        // Pod 1 keeps sending unicast frames to n2's pod though nobody answers its ARP now.
        const neigh = ["neigh", "replace", pods[1].ip!, "lladdr", victimMacs[0], "dev", "eth0"];
        assert.equal((await c.run(pods[0].netns, "ip", [...neigh, "nud", "permanent"])).code, 0);
        await c.stopDaemon(n2, "SIGTERM");
        try {
          await Cluster.waitFor("n2 unreachable from n1", async () => {
            return (await peers(n1)).find((p) => p.name === Cluster.peerName(2))?.reachable ===
              false;
          }, 15_000).catch(async (e) => {
            // What n1 routes through: the entries that still make n2 reachable.
            throw new Error(`${e.message}; n1's peers: ${JSON.stringify(await peers(n1))}`);
          });
          const before = await fdbFor(n1, victimMacs[0]);
          await rogue.claim([victimMacs[0]], [n1, n3]);
          await sleep(3_000); // "a while": plans made meanwhile (probes, heartbeats) keep it so
          // n2's pod may still get traffic (the kernel's fast path outlives the daemon): none of
          // it, nor what the userspace path would send, goes to the rogue.
          const stolen = await framesToRogue(c, () => pings(c, pods[0], pods[1].ip!, 3));
          assert.equal(
            stolen,
            0,
            "frames for n2's pod were addressed to the rogue while n2 was down",
          );
          assert.deepEqual(await fdbFor(n1, victimMacs[0]), before, "n1's FDB for n2's pod");
          // Counted, and logged unless the line of the step before was under 10 s ago.
          for (const n of [n1, n3]) {
            assert.equal(await disputes(n, "kept"), 1, `${n.name}'s refused claims (metric)`);
          }
        } finally {
          c.startDaemon(n2);
          await c.run(pods[0].netns, "ip", ["neigh", "del", pods[1].ip!, "dev", "eth0"]);
        }
        await c.waitReady(n2, 30_000);
        // An owner accepted meanwhile would be kept over n2's re-announcement: this shows it.
        assert.ok(await reaches(c, pods[0], pods[1], 20_000), "n1's pod reaches n2's pod");
        const stolen = await framesToRogue(c, async () => {
          await noLoss(c, pods[0], pods[1], 5);
          await noLoss(c, pods[2], pods[1], 5);
        });
        assert.equal(stolen, 0, "frames were addressed to the rogue after n2's restart");
      },
    );

    await attackStep(
      t,
      `mac-claim-restart${suffix}`,
      "n3's daemon restarted while the rogue's claim on n2's pod MAC stands: n3 starts with " +
        "no history, gives the MAC to nobody (logged), sends nothing for n2's pod to the rogue " +
        "and reaches it with 0 loss",
      async () => {
        await rogue.claim([victimMacs[0]], [n1, n3]); // stands (whatever the last step left)
        const mark = logMark(n3);
        await c.stopDaemon(n3, "SIGTERM");
        c.startDaemon(n3);
        await c.waitReady(n3, 30_000);
        await Cluster.waitFor("n3 to plan from n2's and the rogue's records", async () => {
          return (await recordVersion(n3, ROGUE)) !== undefined &&
            (await recordVersion(n3, Cluster.peerName(2))) !== undefined;
        }, 20_000);
        // Ready for traffic: n3's pod reaches n1's pod, whose MAC nobody disputes.
        assert.ok(await reaches(c, pods[2], pods[0], 20_000), "n3's pod reaches n1's pod");
        const stolen = await framesToRogue(c, () => noLoss(c, pods[2], pods[1], 10));
        assert.equal(stolen, 0, "frames were addressed to the rogue after n3's restart");
        const line = await refusalLogged(n3, mark, victimMacs[0]);
        console.log(`  n3 after its restart: ${JSON.stringify(line.first)}`);
        assert.equal(await disputes(n3, "none"), 2, "n3's MAC with no owner (metric)");
      },
    );

    await attackStep(
      t,
      `topology-claim${suffix}`,
      "the rogue's own topology entry claiming connections to n2 and n3 it does not have: " +
        "nobody routes through it (0 loss, no unicast datagram to it), n2 stays reachable",
      async () => {
        // The control is the rogue's real connection to n1, which n1's entry confirms: n3
        // reaches the rogue through n1 (checked before the first step).
        const v = await rogue.announceSelf([n2, n3]);
        await Cluster.waitFor("n1 and n3 to hold the rogue's new entry", async () => {
          for (const n of [n1, n3]) {
            const e = (await peers(n)).find((p) => p.name === ROGUE);
            if (e?.version !== v || e.connections?.length !== 3) return false;
          }
          return true;
        }, 10_000);
        const relayed = await framesToRogue(c, async () => {
          await noLoss(c, pods[0], pods[1], 10);
          await noLoss(c, pods[2], pods[1], 10);
          await noLoss(c, pods[1], pods[2], 10);
        }, true);
        assert.equal(relayed, 0, "pod traffic was routed through the rogue");
        for (const n of [n1, n3]) {
          const e = (await peers(n)).find((p) => p.name === Cluster.peerName(2));
          assert.equal(e?.reachable, true, `${n.name} sees n2 reachable`);
        }
      },
    );
  } finally {
    const r = await rogue.stop();
    console.log(`  rogue member: ${JSON.stringify(r)}`);
  }
}
