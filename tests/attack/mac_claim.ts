/**
 * Issue 12's last attack: a real mesh member (it holds the password when the cluster has one)
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
 */
import assert from "node:assert/strict";
import { Cluster, type Pod } from "../../cli/demo/cluster.ts";
import { encodeRecords, signRecord } from "../../net/dataplane/fastpath/mac_gossip.ts";
import { inNetns, listLinks } from "../../net/linux/mod.ts";
import { peerNameBytes } from "../../net/mesh/peer_name.ts";
import { encodeUpdate, signEntry } from "../../net/mesh/topology.ts";
import { formatIPv4, parseCidr } from "../../net/addr/mod.ts";
import {
  type Attacker,
  ATTACKER_IP,
  b64,
  curl,
  daemonPid,
  fdb,
  logMark,
  logSince,
  MESH_PORT,
  peers,
  reaches,
  sleep,
  startClient,
} from "./attacker.ts";
import { fakeName, fakeUid, keyFor } from "./fake_peer.ts";
import { allPending, attackStep } from "./pending.ts";
import { captureUdp, pings } from "./sleeve_attack.ts";

type Node = Cluster["nodes"][number];

/** The rogue member: index and name of a made-up peer (mesh_client.ts joins with these). */
const ROGUE_INDEX = 77;
const ROGUE = fakeName(ROGUE_INDEX);
const ROGUE_KEY = keyFor(ROGUE);
/** A MAC no node announces (the control's claim). */
const UNCLAIMED = "0a:58:0a:ee:ee:01";
const REFUSED_LINE = "peers claim MACs their owners still announce: refused";

export const MAC_CLAIM_IDS = [
  "mac-claim-control",
  "mac-claim",
  "mac-claim-down",
  "mac-claim-restart",
];

const macOf = (p: Pod) => inNetns(p.netns, () => listLinks()).find((l) => l.name === "eth0")!.mac;

/**
 * A rogue member connected to `via` until stopped: `say` sends more gossip through the running
 * client (its inbox directory), so the connection, and the rogue's reachability, last.
 */
async function rogueMember(a: Attacker, via: Node, password: string | undefined) {
  const dir = await Deno.makeTempDir({ prefix: "wtatk-rogue-" });
  const stopFile = `${dir}/stop`;
  await Deno.mkdir(`${dir}/inbox`);
  const client = startClient<{ established: boolean; error?: string; closed: string | null }>(
    a.netns,
    "mesh",
    {
      cmd: "join",
      password: password ?? null,
      host: via.underlayIp,
      index: ROGUE_INDEX,
      name: ROGUE,
      waitMs: 500,
      holdMs: 150_000,
      stopFile,
      inbox: `${dir}/inbox`,
      countOnly: true,
    },
    180_000,
  );
  let n = 0;
  // Versions far above any real peer's (seconds since the epoch): what a rogue would pick to win.
  let version = Math.floor(Date.now() / 1000) + 1_000_000;
  const say = async (msgs: unknown[]) => {
    const name = `${String(n++).padStart(4, "0")}.json`;
    await Deno.writeTextFile(`${dir}/${name}.tmp`, JSON.stringify(msgs));
    await Deno.rename(`${dir}/${name}.tmp`, `${dir}/inbox/${name}`);
  };
  return {
    client,
    /** The rogue's own topology entry: its real connection to `via`, signed by itself. */
    async announceSelf() {
      const entry = signEntry(
        {
          name: ROGUE,
          nickname: "rogue",
          uid: fakeUid(ROGUE_INDEX),
          version: 1,
          connections: [{
            name: Cluster.peerName(via.index),
            address: `${via.underlayIp}:${MESH_PORT}`,
            outbound: true,
            established: true,
          }],
        },
        ROGUE_KEY.publicKey,
        (d, p) => ROGUE_KEY.sign(d, p),
      );
      await say([{ tag: "gossip", channel: "topology", data: b64(encodeUpdate([entry])) }]);
    },
    /**
     * The rogue's own macs record, signed with its own key (valid), listing `macs`; returns once
     * `seen` plan from it (the claim arrived: whatever it does, it does now).
     */
    async claim(macs: string[], seen: Node[]) {
      const v = version++;
      const record = signRecord({
        peer: ROGUE,
        version: v,
        addr: ATTACKER_IP,
        sleevePort: MESH_PORT,
        fastdpPort: 6784,
        fastdp: false,
        macs,
      }, (d, p) => ROGUE_KEY.sign(d, p));
      await say([{ tag: "gossip", channel: "macs", data: b64(encodeRecords([record])) }]);
      await Cluster.waitFor(
        `${seen.map((n) => n.name)} to plan from the rogue's record ${v}`,
        async () => {
          for (const n of seen) if ((await recordVersion(n, ROGUE)) !== v) return false;
          return true;
        },
        10_000,
      );
    },
    async stop() {
      await Deno.writeTextFile(stopFile, "");
      try {
        return await client.result;
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    },
  };
}

/** The data plane's start grace (net/dataplane/dataplane.ts adoptGraceMs: 30 s), plus a second. */
const START_GRACE_MS = 31_000;

/** How long a node's daemon has run (its process's start time, /proc). */
function upMs(node: Node): number {
  const stat = Deno.readTextFileSync(`/proc/${daemonPid(node)}/stat`);
  const ticks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]); // field 22
  const uptime = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
  return (uptime - ticks / 100) * 1000; // USER_HZ is 100 on Linux
}

/** The version of `peer`'s macs record that `n` plans its paths from (GET /status/dataplane). */
async function recordVersion(n: Node, peer: string): Promise<number | undefined> {
  const r = await curl(n, "GET", "http://127.0.0.1:6784/status/dataplane");
  if (r.status !== 200) throw new Error(`/status/dataplane on ${n.name}: ${r.status}`);
  return (JSON.parse(r.body).peers as Array<{ peer: string; version: number }>)
    .find((p) => p.peer === peer)?.version;
}

/** Userspace-path datagrams on the underlay addressed to the rogue (unicast, dest = its name). */
function toRogue(payloads: Uint8Array[]): number {
  const dest = peerNameBytes(ROGUE);
  return payloads.filter((p) =>
    p.length >= 42 && p[0] === 0x58 && (p[1] & 2) === 0 &&
    dest.every((b, i) => p[30 + i] === b)
  ).length;
}

/** Runs `traffic` and counts the userspace-path datagrams addressed to the rogue meanwhile. */
async function framesToRogue(c: Cluster, traffic: () => Promise<unknown>): Promise<number> {
  return toRogue(await captureUdp(c, `udp and dst host ${ATTACKER_IP}`, 100_000, traffic));
}

/** Waits for `node`'s log line refusing the rogue's claim on `mac` (after `mark`); returns it. */
async function refusalLogged(node: Node, mark: number, mac: string) {
  return await Cluster.waitFor(`${node.name} to log the refused claim on ${mac}`, () => {
    for (const l of logSince(node, mark).split("\n")) {
      if (!l.includes(REFUSED_LINE)) continue;
      const line = JSON.parse(l) as { first: Array<{ mac: string; claimant: string }> };
      if (line.first.some((d) => d.mac === mac && d.claimant === ROGUE)) {
        return Promise.resolve(line);
      }
    }
    return Promise.resolve(undefined);
  }, 10_000);
}

/** `node`'s FDB entries for `mac` ("mac dst"). */
const fdbFor = async (node: Node, mac: string) =>
  (await fdb(node)).filter((e) => e.startsWith(`${mac} `));

/** All `count` pings from `from` to `to` answered (0 loss), else the ping output. */
async function noLoss(c: Cluster, from: Pod, to: Pod, count: number) {
  const r = await pings(c, from, to.ip!, count);
  const m = r.stdout.match(/(\d+) packets transmitted, (\d+) (packets )?received/);
  assert.ok(
    m && m[1] === `${count}` && m[2] === `${count}`,
    `${from.name} -> ${to.name}:\n${r.stdout}`,
  );
}

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
        const marks = [logMark(n1), logMark(n3)];
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
        for (const [i, n] of [n1, n3].entries()) await refusalLogged(n, marks[i], victimMacs[0]);
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
      },
    );
  } finally {
    const r = await rogue.stop();
    console.log(`  rogue member: ${JSON.stringify(r)}`);
  }
}
