/**
 * First packet across nodes: 100 new pods on a 2-node cluster that has just become ready (as the
 * demo and a fresh node see it), each probed right after its CNI ADD returned, against a pod on
 * the other node. Half the new pods send the first packet (their ARP must cross the overlay), half
 * receive it (the remote pod's ARP for an address it never saw must reach the new pod). The probe
 * behaves like ping and like a TCP SYN: one echo, another after 1 s without a reply; so a lost
 * first packet costs 1 s, the outlier the demo showed. Reported: time from ADD returning to the
 * first reply (p50, p99, max) and how many first echoes went unanswered.
 *
 * The likely cause of the demo's 1 s outlier (../shared/reviews/first-packet.md: first seconds of
 * a cluster, while paths are decided; the demo's own case did not recur in 11 demo-tempo runs
 * here, with or without the fix, but the mechanism below is reproduced by this test): each end of a pair moved to the fast path when its own probe
 * (one a second) was answered, up to a second apart, and meanwhile the two ends sent on different
 * paths: a first packet's ARP (or its answer) was lost and retried 1 s later. Since 13c5509 an end
 * that receives a probe request before its pair is up probes back at once
 * (net/dataplane/dataplane.ts onProbeRequest), so both ends move within a round trip. The 100 pods
 * above are made after the cluster is meshed and rarely fall in that window, so the test then
 * opens it on purpose (MOVES times): VXLAN into one node dropped until the pair is on the
 * userspace path, then let through, and first packets (ARP cache flushed before each echo) sent
 * both ways every few ms while the pair moves back. Negative control: without the probe-back
 * every move lost 1-3 of ~250 such first packets (7 of 7 moves, the ends 80-800 ms apart); with
 * it, 2 lost in 9 moves (the ends 0-15 ms apart), each a few hundred ms after both ends had
 * moved: a second, rarer cause, not found yet. So at most one loss over the two moves passes.
 */
import assert from "node:assert/strict";
import { Cluster, type Pod } from "../../cli/demo/cluster.ts";
import {
  closeFd,
  inNetns,
  openIcmpSocket,
  receiveEchoReply,
  sendEchoRequest,
  waitReadable,
} from "../../net/linux/mod.ts";
import { execIn } from "../../cli/demo/exec.ts";
import { IS_ROOT } from "../harness/netns.ts";
import { secondsSince, WEAVETS_ONLY, withCluster } from "./e2e.ts";

const PODS = 100;
/** As ping and a TCP SYN: the next try after 1 s without an answer. */
const RETRY_MS = 1000;
const GIVE_UP_MS = 5000;
const P99_GOAL_MS = 100;
/** How often the pair is moved off and back onto the fast path, and how long each is probed. */
const MOVES = 2;
const MOVE_PROBE_MS = 2500;
/**
 * A first packet is lost when not answered in this long: an ARP retry comes only after 1 s, and a
 * loaded machine can delay an answer by a few hundred ms (200 ms here had false losses at load 25).
 */
const REPLY_MS = 600;

/** The daemon log lines of moves to `path`, as times (ms since the epoch). */
async function moves(logFile: string, path: "fastdp" | "sleeve"): Promise<number[]> {
  return (await Deno.readTextFile(logFile)).split("\n")
    .filter((l) => l.includes('"path changed"') && l.includes(`"path":"${path}"`))
    .map((l) => Date.parse(JSON.parse(l).ts));
}

/** VXLAN (UDP 6784) into a node dropped, so the pair's probes go unanswered; or let through. */
async function blockVxlan(node: Cluster["nodes"][number], on: boolean) {
  const script = on
    ? [
      "table inet wtfp {",
      "  chain in {",
      "    type filter hook input priority -10;",
      "    udp dport 6784 drop",
      "  }",
      "}",
    ].join("\n")
    : "delete table inet wtfp";
  const child = new Deno.Command("nsenter", {
    args: [`--net=${node.netns}`, "nft", "-f", "-"],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(script + "\n"));
  await w.close();
  const out = await child.output();
  if (!out.success) throw new Error(`nft in ${node.name}: ${new TextDecoder().decode(out.stderr)}`);
}

/** When a node's daemon first logged a move of a peer to the fast path (ms since the epoch). */
async function firstFastdp(logFile: string): Promise<number | undefined> {
  for (const line of (await Deno.readTextFile(logFile)).split("\n")) {
    if (!line.includes('"path changed"') || !line.includes('"path":"fastdp"')) continue;
    return Date.parse(JSON.parse(line).ts);
  }
  return undefined;
}

interface FirstReply {
  /** From the call (ADD just returned) to the first echo reply, any try. */
  ms: number;
  /** Which try was answered first (1: the first packet got through). */
  seq: number;
}

/** Echoes from `netns` to `to` every RETRY_MS until one is answered; throws after GIVE_UP_MS. */
async function firstReply(netns: string, to: string): Promise<FirstReply> {
  const fd = inNetns(netns, () => openIcmpSocket());
  try {
    const id = crypto.getRandomValues(new Uint16Array(1))[0];
    const start = performance.now();
    let seq = 0;
    let nextSend = start;
    for (;;) {
      const now = performance.now();
      if (now - start > GIVE_UP_MS) {
        throw new Error(`no echo reply from ${to} in ${GIVE_UP_MS} ms (${seq} tries)`);
      }
      if (now >= nextSend) {
        sendEchoRequest(fd, to, id, ++seq);
        nextSend += RETRY_MS;
      }
      // Short blocking waits: the reply is timed within ~1 ms, and timers still run.
      if (waitReadable(fd, 5)) {
        const at = performance.now();
        for (let r = receiveEchoReply(fd); r; r = receiveEchoReply(fd)) {
          if (r.id === id && r.from === to) return { ms: at - start, seq: r.seq };
        }
      } else {
        await new Promise((r) => setTimeout(r, 0));
      }
    }
  } finally {
    closeFd(fd);
  }
}

type Sample = FirstReply & { pod: string; dir: "out" | "in" };

/**
 * A first packet from an existing pod: its ARP cache flushed, one echo to `to`, answered within
 * REPLY_MS or not (a lost ARP would be retried only after 1 s).
 */
async function freshFirstPacket(from: Pod, to: string): Promise<boolean> {
  const flushed = await execIn(from.netns, "ip", ["neigh", "flush", "all"], { timeoutMs: 5000 });
  if (flushed.code !== 0) throw new Error(`ip neigh flush in ${from.name}: ${flushed.stderr}`);
  const fd = inNetns(from.netns, () => openIcmpSocket());
  try {
    const id = crypto.getRandomValues(new Uint16Array(1))[0];
    sendEchoRequest(fd, to, id, 1);
    const start = performance.now();
    while (performance.now() - start < REPLY_MS) {
      if (waitReadable(fd, 5)) {
        for (let r = receiveEchoReply(fd); r; r = receiveEchoReply(fd)) {
          if (r.id === id && r.from === to) return true;
        }
      } else {
        await new Promise((r) => setTimeout(r, 0));
      }
    }
    return false;
  } finally {
    closeFd(fd);
  }
}

/**
 * A new pod on node i % 2, probed right after its ADD against the target on the other node:
 * pairs alternate between the new pod speaking first and the remote pod speaking first.
 */
async function newPod(c: Cluster, targets: Pod[], label: string, i: number): Promise<Sample> {
  const remote = targets[(i + 1) % 2];
  const pod: Pod = await c.addPod(c.nodes[i % 2], label);
  assert.ok(pod.ip, `${pod.name} got an address`);
  const out = i % 4 < 2;
  const r = out ? await firstReply(pod.netns, remote.ip!) : await firstReply(remote.netns, pod.ip!);
  return { ...r, pod: pod.name, dir: out ? "out" : "in" };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)];
}

Deno.test({
  name: `e2e: first packet: ${PODS} new pods on 2 nodes reach (and are reached from) a pod on ` +
    `the other node right after ADD; p99 to the first reply <= ${P99_GOAL_MS} ms`,
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withCluster({ nodes: 2, conflist: WEAVETS_ONLY }, async (c: Cluster) => {
      const t0 = performance.now();
      // One target per node, made first (their own first packets are not counted).
      const targets = [await c.addPod(c.nodes[0], "t"), await c.addPod(c.nodes[1], "t")];
      const samples: Sample[] = [];
      for (let i = 0; i < PODS; i++) samples.push(await newPod(c, targets, `f${i}`, i));
      const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
      const lost = samples.filter((s) => s.seq > 1);
      console.log(
        `${PODS} new pods in ${secondsSince(t0)} s: first reply p50 ` +
          `${percentile(ms, 50).toFixed(1)} ms, p99 ${percentile(ms, 99).toFixed(1)} ms, max ` +
          `${ms[ms.length - 1].toFixed(1)} ms; first echo unanswered: ${lost.length}` +
          (lost.length
            ? ` (${lost.map((s) => `${s.pod} ${s.dir} ${s.ms.toFixed(0)} ms`).join(", ")})`
            : ""),
      );
      const flips = await Promise.all(c.nodes.map((n) => firstFastdp(n.logFile)));
      assert.ok(flips.every((t) => t !== undefined), `both ends on the fast path: ${flips}`);
      const gap = Math.abs(flips[0]! - flips[1]!);
      // Reported, not bounded: each end moves when its main thread handles a reply, so on a
      // loaded machine the gap is that thread's lag (2-50 ms idle, 353 ms once at load 25).
      console.log(`at start, the two ends moved to the fast path ${gap} ms apart`);
      assert.ok(
        percentile(ms, 99) <= P99_GOAL_MS,
        `p99 ${percentile(ms, 99).toFixed(1)} ms > ${P99_GOAL_MS} ms`,
      );
      assert.deepEqual(lost.map((s) => s.pod), [], "first packets lost");

      // The window itself, on purpose, twice: VXLAN into n2 dropped until both ends moved the
      // pair to the userspace path, then let through; while the pair moves back to the fast
      // path, two pods exchange first packets every few ms (ARP cache flushed before each echo,
      // so each needs an ARP across the overlay, as a new pod's first packet does).
      const [a, b] = targets;
      const lostInMoves: string[] = [];
      for (let rep = 0; rep < MOVES; rep++) {
        const sleeveBefore = await Promise.all(c.nodes.map((n) => moves(n.logFile, "sleeve")));
        await blockVxlan(c.nodes[1], true);
        try {
          await Cluster.waitFor(
            "both ends on the userspace path",
            async () => {
              const now = await Promise.all(c.nodes.map((n) => moves(n.logFile, "sleeve")));
              return now.every((m, i) => m.length > sleeveBefore[i].length);
            },
            20_000,
            200,
          );
        } finally {
          await blockVxlan(c.nodes[1], false);
        }
        const t0 = Date.now();
        let probes = 0;
        const lost: string[] = [];
        while (Date.now() - t0 < MOVE_PROBE_MS) {
          const out = probes++ % 2 === 0;
          const ok = out ? await freshFirstPacket(a, b.ip!) : await freshFirstPacket(b, a.ip!);
          if (!ok) lost.push(`${out ? "n1->n2" : "n2->n1"} at +${Date.now() - t0} ms`);
        }
        const back = await Promise.all(c.nodes.map((n) => moves(n.logFile, "fastdp")));
        const at = back.map((m) => m.length ? `+${m[m.length - 1] - t0} ms` : "never");
        console.log(
          `move ${rep + 1}: ends back on the fast path at ${at.join(" and ")} after the ` +
            `unblock; ${probes} first packets, ${lost.length} unanswered in ${REPLY_MS} ms` +
            (lost.length ? ` (${lost.join(", ")})` : ""),
        );
        lostInMoves.push(...lost);
      }
      // Without the probe-back every move lost 1-3 (7 of 7 moves). With it most moves lose none,
      // but about one move in five still lost one, a few hundred ms after both ends had moved:
      // a second, rarer cause not found yet, so one over the two moves is tolerated.
      assert.ok(
        lostInMoves.length <= 1,
        `first packets lost while the pair moved: ${lostInMoves.join(", ")}`,
      );
    });
  },
});
