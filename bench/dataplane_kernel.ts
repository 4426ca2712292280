/**
 * The data-plane benchmark's kernel baselines (bench/dataplane.ts): two nodes on an underlay
 * bridge, one pod each, wired by plain routing, a hand-made kernel VXLAN, or that VXLAN with
 * connection tracking on as on a Kubernetes node. Plain iproute2 and nft; root.
 */
import { Namespaces } from "../tests/harness/netns.ts";
import { sh, shTry } from "../tests/harness/sh.ts";

/** One topology under test: iperf3 from pod `a` to pod `b` at `ip`; `pids` are weavets processes. */
export interface Target {
  name: string;
  a: string;
  b: string;
  ip: string;
  pids: number[];
  /** The node namespaces (where conntrack would hold the pods' flows). */
  nodes: string[];
  cleanup(): Promise<void>;
}

/**
 * How many connections conntrack holds in these namespaces together (nf_conntrack_count; 0 where
 * it is off). The benchmark reads it after measuring, so a baseline meant to track that does not
 * is seen in the report, not taken for one (an empty nat chain did exactly that until af28845).
 */
export async function conntrackCount(nodes: string[]): Promise<number> {
  let n = 0;
  for (const ns of nodes) {
    const r = await shTry("ip", [
      "netns",
      "exec",
      ns,
      "cat",
      "/proc/sys/net/netfilter/nf_conntrack_count",
    ]);
    n += r.code === 0 ? Number(r.stdout.trim()) || 0 : 0;
  }
  return n;
}

/** Runs a command given as one string (the benchmark's set-up is plain iproute2). */
const run = (cmd: string) => sh(...(cmd.split(" ") as [string, ...string[]]));

export const BASELINE_NAMES = {
  routed: "plain routed veth",
  vxlan: "kernel VXLAN (hand-made)",
  "vxlan-ct": "kernel VXLAN + conntrack",
};

/**
 * The "vxlan-ct" baseline's nat table (pure): masquerading for pod traffic that leaves the pod
 * range, as weavets' own table does. The rule matters: an empty nat chain registers only the nat
 * hooks, and the kernel turns connection tracking on in a namespace when a rule needs it (nft's
 * masquerade, snat, dnat and ct expressions), not for a chain. Measured with `perf record`
 * (2026-12-03): with the empty chain that this baseline had until then, no packet reached
 * nf_conntrack_in, so "kernel VXLAN + conntrack" was kernel VXLAN without conntrack and the fast
 * path with masquerading (which tracks every packet) was compared with an untracked baseline.
 */
export function conntrackBaselineScript(podCidr: string): string {
  return [
    "table ip wtct {",
    "  chain post {",
    "    type nat hook postrouting priority srcnat; policy accept;",
    `    ip saddr ${podCidr} ip daddr != ${podCidr} masquerade`,
    "  }",
    "}",
    "",
  ].join("\n");
}

/** Loads an nft script in namespace `ns`. */
export async function nftScript(ns: string, script: string): Promise<void> {
  const nft = new Deno.Command("ip", {
    args: ["netns", "exec", ns, "nft", "-f", "-"],
    stdin: "piped",
  })
    .spawn();
  const w = nft.stdin.getWriter();
  await w.write(new TextEncoder().encode(script));
  await w.close();
  if (!(await nft.status).success) throw new Error(`nft in ${ns}: ${script}`);
}

/**
 * Two nodes on an underlay bridge, one pod each; `mode` wires the pods. "vxlan-ct" is "vxlan" with
 * connection tracking on in the nodes (a masquerade rule, conntrackBaselineScript), as on every
 * Kubernetes node: kube-proxy needs it, and with br_netfilter (bridge-nf-call-iptables is 1 in
 * every namespace by default) it then tracks bridged pod traffic too, and the VXLAN packets
 * themselves. weavets' own masquerading turns it on as well, so this is the like-for-like
 * baseline of its fast path.
 */
export async function kernelBaseline(mode: keyof typeof BASELINE_NAMES): Promise<Target> {
  const ns = new Namespaces({ routed: "wtdr", vxlan: "wtdv", "vxlan-ct": "wtdc" }[mode]);
  try {
    const u = ns.add("u");
    await run(`ip -n ${u} link add br0 type bridge`);
    await run(`ip -n ${u} link set br0 up`);
    const pods: string[] = [];
    const nodes: string[] = [];
    for (const i of [1, 2]) {
      const o = 3 - i;
      const n = ns.add(`n${i}`);
      nodes.push(n);
      await run(`ip link add eth0 netns ${n} type veth peer name u${i} netns ${u}`);
      await run(`ip -n ${u} link set u${i} master br0 up`);
      await run(`ip -n ${n} addr add 192.168.78.${i}/24 dev eth0`);
      await run(`ip -n ${n} link set eth0 up`);
      const p = ns.add(`p${i}`);
      pods.push(p);
      const mtu = mode === "routed" ? 1500 : 1450;
      await run(
        `ip link add eth0 netns ${p} mtu ${mtu} type veth peer name vp netns ${n} mtu ${mtu}`,
      );
      await run(`ip -n ${p} link set eth0 up`);
      await run(`ip -n ${n} link set vp up`);
      if (mode === "routed") {
        await run(`ip -n ${p} addr add 10.33.${i}.2/24 dev eth0`);
        await run(`ip -n ${n} addr add 10.33.${i}.1/24 dev vp`);
        await run(`ip -n ${p} route add default via 10.33.${i}.1`);
        await run(`ip -n ${n} route add 10.33.${o}.0/24 via 192.168.78.${o}`);
        await run(`ip netns exec ${n} sysctl -qw net.ipv4.ip_forward=1`);
      } else {
        await run(`ip -n ${p} addr add 10.34.0.${i}/16 dev eth0`);
        await run(`ip -n ${n} link add name kbr mtu 1450 type bridge`);
        await run(
          `ip -n ${n} link add name kvx mtu 1450 type vxlan id 42 dstport 4789 local 192.168.78.${i} nolearning`,
        );
        await run(`ip -n ${n} link set vp master kbr`);
        await run(`ip -n ${n} link set kvx master kbr up`);
        await run(`ip -n ${n} link set kbr up`);
        await run(`bridge -n ${n} fdb append 00:00:00:00:00:00 dev kvx dst 192.168.78.${o}`);
        if (mode === "vxlan-ct") await nftScript(n, conntrackBaselineScript("10.34.0.0/16"));
      }
    }
    return {
      name: BASELINE_NAMES[mode],
      a: pods[0],
      b: pods[1],
      ip: mode === "routed" ? "10.33.2.2" : "10.34.0.2",
      pids: [],
      nodes,
      cleanup: () => Promise.resolve(ns.cleanup()),
    };
  } catch (e) {
    ns.cleanup();
    throw e;
  }
}
