/**
 * First packet across nodes: 100 new pods on a 2-node cluster that has just become ready (as the
 * demo and a fresh node see it), each probed right after its CNI ADD returned, against a pod on
 * the other node. Half the new pods send the first packet (their ARP must cross the overlay), half
 * receive it (the remote pod's ARP for an address it never saw must reach the new pod). The probe
 * behaves like ping and like a TCP SYN: one echo, another after 1 s without a reply; so a lost
 * first packet costs 1 s, the outlier the demo showed. Reported: time from ADD returning to the
 * first reply (p50, p99, max) and how many first echoes went unanswered.
 *
 * The suspect for the demo's 1 s outlier (../shared/reviews/first-packet.md: first seconds of a
 * cluster, while paths are decided): each end of a pair moved to the fast path when its own probe
 * (one a second) was answered, up to a second apart, and meanwhile each end sent on another path.
 * Since 13c5509 an end that receives a probe request before its pair is up probes back at once
 * (net/dataplane/dataplane.ts onProbeRequest), which shrinks that gap to the daemons' main-thread
 * lag. The pods above are made after the cluster is meshed and rarely fall in that window, so
 * the test then opens it on purpose: VXLAN into one node dropped until the pair is on the
 * userspace path, then let through, and 16 more new pods probed while the pair moves back; none
 * may lose its first packet. Honest status: in these runs no first packet was lost with or
 * without the probe-back (gaps up to 523 ms without it), so this test does not prove the suspect
 * was the cause; the demo's outlier (seen at a60c05e) was not reproduced on this main.
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
import { IS_ROOT } from "../harness/netns.ts";
import { secondsSince, WEAVETS_ONLY, withCluster } from "./e2e.ts";

const PODS = 100;
/** As ping and a TCP SYN: the next try after 1 s without an answer. */
const RETRY_MS = 1000;
const GIVE_UP_MS = 5000;
const P99_GOAL_MS = 100;
/** Pods made while a pair moves back to the fast path (one after another, ~2 s). */
const WINDOW_PODS = 16;

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

      // The window itself, on purpose: VXLAN into n2 dropped until both ends moved the pair to
      // the userspace path, then let through; new pods are made and probed while the pair moves
      // back to the fast path (without the probe-back the ends moved up to 1 s apart).
      const sleeveBefore = await Promise.all(c.nodes.map((n) => moves(n.logFile, "sleeve")));
      const fastBefore = await Promise.all(c.nodes.map((n) => moves(n.logFile, "fastdp")));
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
      const window: Sample[] = [];
      for (let i = 0; i < WINDOW_PODS; i++) {
        window.push(await newPod(c, targets, `w${i}`, i));
      }
      const back = await Promise.all(c.nodes.map((n) => moves(n.logFile, "fastdp")));
      const lostInWindow = window.filter((s) => s.seq > 1);
      const backGap = back.every((m, i) => m.length > fastBefore[i].length)
        ? Math.abs(back[0][back[0].length - 1] - back[1][back[1].length - 1])
        : undefined;
      console.log(
        `while the pair moved back to the fast path (${
          backGap === undefined ? "not both back yet" : `ends ${backGap} ms apart`
        }): ${WINDOW_PODS} new pods, max first reply ` +
          `${Math.max(...window.map((s) => s.ms)).toFixed(1)} ms; first echo unanswered: ` +
          `${lostInWindow.length}${
            lostInWindow.length
              ? ` (${
                lostInWindow.map((s) => `${s.pod} ${s.dir} ${s.ms.toFixed(0)} ms`).join(", ")
              })`
              : ""
          }`,
      );
      assert.deepEqual(lostInWindow.map((s) => s.pod), [], "first packets lost in the move");
    });
  },
});
