/**
 * Issue 13, "only peers send to the data ports" (run by gossip_forgery_test.ts on its cluster):
 * from a non-peer address on the underlay, a
 * VXLAN frame (UDP 6784) and an unencrypted sleeve message (UDP 6783, sender = a peer's name)
 * carrying an ICMP echo with a spoofed pod source must never reach a pod.
 * Negative control: the very same datagrams from the spoofed peer's own underlay address do reach
 * the pod — so they are well-formed and it is the source check that stops the attacker's. (On the
 * same L2 segment a forged source address and port pass any source check: only encryption stops
 * that; the control shows it.)
 */
import assert from "node:assert/strict";
import type { Cluster, Pod } from "../../cli/demo/cluster.ts";
import { spawnIn } from "../../cli/demo/exec.ts";
import { inetChecksum } from "../../net/dataplane/sleeve/icmp.ts";
import { inNetns, listLinks } from "../../net/linux/mod.ts";
import { readUntil } from "../harness/sh.ts";
import type { Attacker } from "./attacker.ts";
import { attackStep } from "./pending.ts";
import { sendSpoofedUdp } from "./raw_udp.ts";
import { fragment, nameBytes, sendDatagrams } from "./sleeve_attack.ts";

const mac = (s: string) => Uint8Array.from(s.split(":").map((h) => parseInt(h, 16)));
const ip4 = (s: string) => Uint8Array.from(s.split(".").map(Number));
const macOf = (p: Pod) => inNetns(p.netns, () => listLinks()).find((l) => l.name === "eth0")!.mac;

/** An Ethernet frame: ICMP echo from `src` (spoofed) to `dst`, with echo id `id`. */
export function echoFrame(src: Pod, dst: Pod, id: number): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + 32);
  f.set(mac(macOf(dst)), 0);
  f.set(mac(macOf(src)), 6);
  f[12] = 0x08;
  const ip = 14;
  f[ip] = 0x45;
  f[ip + 3] = 20 + 8 + 32;
  f[ip + 8] = 64;
  f[ip + 9] = 1;
  f.set(ip4(src.ip!), ip + 12);
  f.set(ip4(dst.ip!), ip + 16);
  const ipSum = inetChecksum(f, ip, ip + 20);
  f[ip + 10] = ipSum >> 8;
  f[ip + 11] = ipSum & 0xff;
  const icmp = ip + 20;
  f[icmp] = 8;
  f[icmp + 4] = id >> 8;
  f[icmp + 5] = id & 0xff;
  f.set(new TextEncoder().encode("weavets-attack-injected-frame-01"), icmp + 8);
  const sum = inetChecksum(f, icmp, f.length);
  f[icmp + 2] = sum >> 8;
  f[icmp + 3] = sum & 0xff;
  return f;
}

export function vxlan(frame: Uint8Array, vni = 1): Uint8Array {
  const d = new Uint8Array(8 + frame.length);
  d[0] = 0x08;
  d[4] = (vni >> 16) & 0xff;
  d[5] = (vni >> 8) & 0xff;
  d[6] = vni & 0xff;
  d.set(frame, 8);
  return d;
}

/** One unencrypted sleeve message from peer `from` to peer `to` carrying `frame`. */
function sleeve(frame: Uint8Array, from: number, to: number): Uint8Array {
  const body = new Uint8Array(4 + 10 + frame.length);
  new DataView(body.buffer).setUint32(0, 10 + frame.length);
  body.set(frame, 14);
  return fragment({
    sender: nameBytes(from),
    keyId: crypto.getRandomValues(new Uint8Array(8)),
    seq: 1,
    origin: nameBytes(from),
    dest: nameBytes(to),
    index: 0,
    count: 1,
    payload: body,
  });
}

/** How many echo requests with `id` reached the pod's eth0 while `send` ran. */
export async function arrivals(
  pod: Pod,
  id: number,
  send: () => Promise<unknown>,
): Promise<number> {
  const cap = spawnIn(pod.netns, "timeout", [
    "30",
    "tcpdump",
    "-i",
    "eth0",
    "-n",
    "-l",
    "--immediate-mode",
    `icmp[icmptype] == icmp-echo and icmp[4:2] == ${id}`,
  ], { stdout: "piped", stderr: "piped" });
  const errs = cap.stderr.pipeThrough(new TextDecoderStream()).getReader();
  await readUntil(errs, "listening on", "tcpdump");
  errs.releaseLock();
  cap.stderr.cancel().catch(() => {});
  await send();
  await new Promise((r) => setTimeout(r, 1_000));
  try {
    cap.kill("SIGTERM");
  } catch {
    // ended
  }
  const out = await new Response(cap.stdout).text();
  await cap.status;
  return out.split("\n").filter((l) => l.includes("ICMP echo request")).length;
}

/**
 * Three datagrams from the attacker's own address must not reach the pod. The control: the same
 * datagrams do reach it when they come from n2's address — sent from n2's namespace, or with
 * n2's address and port forged in a raw packet, as any host on the segment can (so the control
 * holds whether or not the receiver also checks the port).
 */
export async function injection(
  c: Cluster,
  a: Attacker,
  port: number,
  control: "from-peer" | "spoofed",
  make: (id: number) => Uint8Array,
): Promise<void> {
  const [n1, n2] = c.nodes;
  const victim = c.pods.find((p) => p.node === n1)!;
  const idA = 0x5a00 + Math.floor(Math.random() * 0xff);
  const fromAttacker = await arrivals(
    victim,
    idA,
    () => sendDatagrams(a, n1.underlayIp, port, Array.from({ length: 3 }, () => make(idA)), 10),
  );
  const idC = idA + 0x100;
  const n1Mac = inNetns(n1.netns, () => listLinks()).find((l) => l.name === "eth0")!.mac;
  const fromPeer = await arrivals(victim, idC, async () => {
    if (control === "from-peer") {
      await sendDatagrams(
        { ...a, netns: n2.netns },
        n1.underlayIp,
        port,
        Array.from({ length: 3 }, () => make(idC)),
        10,
      );
    } else {
      for (let i = 0; i < 3; i++) {
        inNetns(a.netns, () =>
          sendSpoofedUdp(
            "eth0",
            n1Mac,
            { ip: n2.underlayIp, port },
            { ip: n1.underlayIp, port },
            make(idC),
          ));
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });
  console.log(
    `  UDP ${port}: from the attacker's address ${fromAttacker}/3 reached the pod; ` +
      `from n2's address (${control}) ${fromPeer}/3`,
  );
  assert.ok(fromPeer > 0, "the control: the same datagrams from n2's address reach the pod");
  assert.equal(fromAttacker, 0, "the attacker's datagrams reached the pod");
}

/**
 * The injection steps, on a cluster (fast path, no password) with a pod on node 1 (the victim)
 * and one on node 2 (whose address the attacker spoofs).
 */
export async function injectionSteps(t: Deno.TestContext, c: Cluster, a: Attacker) {
  const [n1, n2] = c.nodes;
  const victim = c.pods.find((p) => p.node === n1)!;
  const spoofed = c.pods.find((p) => p.node === n2)!;
  await attackStep(
    t,
    "inject-vxlan",
    "a VXLAN frame from the attacker never reaches a pod " +
      "(from n2's address it does)",
    () => injection(c, a, 6784, "from-peer", (id) => vxlan(echoFrame(spoofed, victim, id))),
  );
  await attackStep(
    t,
    "inject-sleeve",
    "an unencrypted sleeve message naming n2 never reaches " +
      "a pod (with n2's address and port forged, it does)",
    () => injection(c, a, 6783, "spoofed", (id) => sleeve(echoFrame(spoofed, victim, id), 2, 1)),
  );
}
