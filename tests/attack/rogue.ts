/**
 * The rogue member of issue 12's last attack steps (mac_claim.ts): a real mesh peer built from the
 * product's connection and handshake modules (mesh_client.ts `join`, holding the password when the
 * cluster has one), kept connected to one node across steps, whose own topology entry and macs
 * record the test signs with its key; and the oracles that tell whether traffic went its way.
 */
import assert from "node:assert/strict";
import { Cluster, type Pod } from "../../cli/demo/cluster.ts";
import { encodeRecords, signRecord } from "../../net/dataplane/fastpath/mac_gossip.ts";
import { inNetns, listLinks } from "../../net/linux/mod.ts";
import { peerNameBytes } from "../../net/mesh/peer_name.ts";
import { type ConnectionRecord, encodeUpdate, signEntry } from "../../net/mesh/topology.ts";
import {
  type Attacker,
  ATTACKER_IP,
  b64,
  curl,
  daemonPid,
  fdb,
  logSince,
  MESH_PORT,
  startClient,
} from "./attacker.ts";
import { fakeName, fakeUid, keyFor } from "./fake_peer.ts";
import { captureUdp, pings } from "./sleeve_attack.ts";

export type Node = Cluster["nodes"][number];

/** The rogue member: index and name of a made-up peer (mesh_client.ts joins with these). */
export const ROGUE_INDEX = 77;
export const ROGUE = fakeName(ROGUE_INDEX);
export const ROGUE_KEY = keyFor(ROGUE);
export const REFUSED_LINE = "peers claim MACs their owners still announce: refused";

export const macOf = (p: Pod) =>
  inNetns(p.netns, () => listLinks()).find((l) => l.name === "eth0")!.mac;

/**
 * A rogue member connected to `via` until stopped: `say` sends more gossip through the running
 * client (its inbox directory), so the connection, and the rogue's reachability, last.
 */
export async function rogueMember(a: Attacker, via: Node, password: string | undefined) {
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
  let n = 0, entryVersion = 1;
  // Versions far above any real peer's (seconds since the epoch): what a rogue would pick to win.
  let version = Math.floor(Date.now() / 1000) + 1_000_000;
  const say = async (msgs: unknown[]) => {
    const name = `${String(n++).padStart(4, "0")}.json`;
    await Deno.writeTextFile(`${dir}/${name}.tmp`, JSON.stringify(msgs));
    await Deno.rename(`${dir}/${name}.tmp`, `${dir}/inbox/${name}`);
  };
  return {
    client,
    /**
     * The rogue's own topology entry, signed by itself: its real connection to `via`, and
     * connections it does not have to `claimed` (as established); returns the entry's version.
     */
    async announceSelf(claimed: Node[] = []) {
      const link = (n: Node): ConnectionRecord => ({
        name: Cluster.peerName(n.index),
        address: `${n.underlayIp}:${MESH_PORT}`,
        outbound: true,
        established: true,
      });
      const entry = signEntry(
        {
          name: ROGUE,
          nickname: "rogue",
          uid: fakeUid(ROGUE_INDEX),
          version: entryVersion++,
          connections: [via, ...claimed].map(link).sort((x, y) => x.name < y.name ? -1 : 1),
        },
        ROGUE_KEY.publicKey,
        (d, p) => ROGUE_KEY.sign(d, p),
      );
      await say([{ tag: "gossip", channel: "topology", data: b64(encodeUpdate([entry])) }]);
      return entry.version;
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
export const START_GRACE_MS = 31_000;

/** How long a node's daemon has run (its process's start time, /proc). */
export function upMs(node: Node): number {
  const stat = Deno.readTextFileSync(`/proc/${daemonPid(node)}/stat`);
  const ticks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]); // field 22
  const uptime = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
  return (uptime - ticks / 100) * 1000; // USER_HZ is 100 on Linux
}

/** The version of `peer`'s macs record that `n` plans its paths from (GET /status/dataplane). */
export async function recordVersion(n: Node, peer: string): Promise<number | undefined> {
  const r = await curl(n, "GET", "http://127.0.0.1:6784/status/dataplane");
  if (r.status !== 200) throw new Error(`/status/dataplane on ${n.name}: ${r.status}`);
  return (JSON.parse(r.body).peers as Array<{ peer: string; version: number }>)
    .find((p) => p.peer === peer)?.version;
}

/** Userspace-path datagrams on the underlay addressed to the rogue (unicast, dest = its name). */
export function toRogue(payloads: Uint8Array[]): number {
  const dest = peerNameBytes(ROGUE);
  return payloads.filter((p) =>
    p.length >= 42 && p[0] === 0x58 && (p[1] & 2) === 0 &&
    dest.every((b, i) => p[30 + i] === b)
  ).length;
}

/** Unicast userspace-path datagrams on the underlay to the rogue's address, whatever the dest. */
function unicastToRogue(payloads: Uint8Array[]): number {
  return payloads.filter((p) => p.length >= 42 && p[0] === 0x58 && (p[1] & 2) === 0).length;
}

/**
 * Runs `traffic` and counts the userspace-path datagrams addressed to the rogue meanwhile (with
 * `relayed`: every unicast one sent to its address, also those it would relay to another peer).
 */
export async function framesToRogue(
  c: Cluster,
  traffic: () => Promise<unknown>,
  relayed = false,
): Promise<number> {
  const got = await captureUdp(c, `udp and dst host ${ATTACKER_IP}`, 100_000, traffic);
  return relayed ? unicastToRogue(got) : toRogue(got);
}

/** Waits for `node`'s log line refusing the rogue's claim on `mac` (after `mark`); returns it. */
export async function refusalLogged(node: Node, mark: number, mac: string) {
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
export const fdbFor = async (node: Node, mac: string) =>
  (await fdb(node)).filter((e) => e.startsWith(`${mac} `));

/** All `count` pings from `from` to `to` answered (0 loss), else the ping output. */
export async function noLoss(c: Cluster, from: Pod, to: Pod, count: number) {
  const r = await pings(c, from, to.ip!, count);
  const m = r.stdout.match(/(\d+) packets transmitted, (\d+) (packets )?received/);
  assert.ok(
    m && m[1] === `${count}` && m[2] === `${count}`,
    `${from.name} -> ${to.name}:\n${r.stdout}`,
  );
}
