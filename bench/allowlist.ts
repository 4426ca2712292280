/**
 * Input allow-list benchmark (root; issue 13's benchmark goal): kernel VXLAN between two nodes with
 * weavets' masquerading on in both (so conntrack tracks every packet, as on a weavets node), with
 * and without the input allow-list table (node/allowlist.ts inputScript, the daemon's very
 * script, VXLAN on 6784 and the other node allowed). One topology: the table is put on or taken
 * off both nodes before each measurement, in a random order per round, so the only difference
 * between the two is the table (no second topology with its own noise). iperf3 pod to pod: TCP
 * single stream, TCP 4 streams, UDP 64-byte packets/s. Median of ROUNDS with the spread (min–max).
 * Bounded: SECONDS per measurement; always cleans up.
 *   deno run -A bench/allowlist.ts [--seconds N] [--rounds R] [--write]
 *   (--write appends to bench/RESULTS-allowlist.md)
 */
import { Namespaces } from "../tests/harness/netns.ts";
import { sh } from "../tests/harness/sh.ts";
import { iperf3 } from "./iperf.ts";
import { deleteScript, inputScript } from "../net/dataplane/node/allowlist.ts";
import { masqueradeScript } from "../net/dataplane/node/netfilter.ts";

const args = Deno.args;
const opt = (name: string, dflt: number) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) || dflt : dflt;
const SECONDS = opt("--seconds", 4);
const ROUNDS = opt("--rounds", 5);
const WRITE = args.includes("--write");
const PORT = 6784;
const POD_CIDR = "10.34.0.0/16";

const run = (cmd: string) => sh(...(cmd.split(" ") as [string, ...string[]]));

async function nftIn(ns: string, script: string): Promise<void> {
  const c = new Deno.Command("ip", {
    args: ["netns", "exec", ns, "nft", "-f", "-"],
    stdin: "piped",
    stderr: "piped",
  }).spawn();
  const w = c.stdin.getWriter();
  await w.write(new TextEncoder().encode(script));
  await w.close();
  const out = await c.output();
  if (!out.success) throw new Error(`nft in ${ns}: ${new TextDecoder().decode(out.stderr)}`);
}

type Key = "tcp1" | "tcp4" | "pps";
const IPERF_ARGS: Record<Key, string[]> = {
  tcp1: [],
  tcp4: ["-P", "4"],
  pps: ["-u", "-l", "64", "-b", "0"],
};

const ns = new Namespaces("wtal");
const nodes: string[] = [];
const pods: string[] = [];
const samples = {
  off: { tcp1: [] as number[], tcp4: [] as number[], pps: [] as number[] },
  on: { tcp1: [] as number[], tcp4: [] as number[], pps: [] as number[] },
};
let refusedTotal = 0;
try {
  const u = ns.add("u");
  await run(`ip -n ${u} link add br0 type bridge`);
  await run(`ip -n ${u} link set br0 up`);
  for (const i of [1, 2]) {
    const o = 3 - i;
    const n = ns.add(`n${i}`);
    nodes.push(n);
    await run(`ip link add eth0 netns ${n} type veth peer name u${i} netns ${u}`);
    await run(`ip -n ${u} link set u${i} master br0 up`);
    await run(`ip -n ${n} addr add 192.168.79.${i}/24 dev eth0`);
    await run(`ip -n ${n} link set eth0 up`);
    await run(`ip -n ${n} link set lo up`);
    const p = ns.add(`p${i}`);
    pods.push(p);
    await run(`ip link add eth0 netns ${p} mtu 1450 type veth peer name vp netns ${n} mtu 1450`);
    await run(`ip -n ${p} link set eth0 up`);
    await run(`ip -n ${n} link set vp up`);
    await run(`ip -n ${p} addr add 10.34.0.${i}/16 dev eth0`);
    await run(`ip -n ${n} link add name kbr mtu 1450 type bridge`);
    await run(
      `ip -n ${n} link add name kvx mtu 1450 type vxlan id 1 dstport ${PORT} local 192.168.79.${i} nolearning`,
    );
    await run(`ip -n ${n} link set vp master kbr`);
    await run(`ip -n ${n} link set kvx master kbr up`);
    await run(`ip -n ${n} link set kbr up`);
    await run(`bridge -n ${n} fdb append 00:00:00:00:00:00 dev kvx dst 192.168.79.${o}`);
    // weavets' masquerading (the daemon's script): conntrack on, as on every weavets node.
    await nftIn(n, masqueradeScript({ podCidr: POD_CIDR, localRanges: [] }));
  }
  const setTable = async (on: boolean) => {
    for (const [i, n] of nodes.entries()) {
      await nftIn(
        n,
        on
          ? inputScript({
            sleevePort: 6783,
            fastdpPort: PORT,
            apiPort: 6784,
            allowed: [`192.168.79.${2 - i}`],
          })
          : deleteScript(),
      );
    }
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const key of ["tcp1", "tcp4", "pps"] as const) {
      const order = Math.random() < 0.5 ? [false, true] : [true, false];
      for (const on of order) {
        await setTable(on);
        const j = await iperf3(pods[1], pods[0], "10.34.0.2", SECONDS, IPERF_ARGS[key]);
        const v = key === "pps"
          ? Math.round((j.end.sum.packets - j.end.sum.lost_packets) / j.end.sum.seconds)
          : j.end.sum_received.bits_per_second / 1e9;
        samples[on ? "on" : "off"][key].push(v);
        if (on) {
          // The table was in the path and refused nothing of the peers' traffic.
          const c = JSON.parse(
            await sh("ip", "netns", "exec", nodes[1], "nft", "-j", "list", "counters"),
          );
          for (const it of c.nftables) refusedTotal += it.counter?.packets ?? 0;
        }
        console.error(
          `round ${round + 1} ${key} allow-list ${on ? "on " : "off"}: ${v.toFixed(2)}`,
        );
      }
    }
  }
} finally {
  ns.cleanup();
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)];
const fmt = (key: Key, x: number) => key === "pps" ? `${Math.round(x / 1000)} k` : x.toFixed(2);
const spread = (key: Key, xs: number[]) =>
  `${fmt(key, sorted(xs)[0])}–${fmt(key, sorted(xs).at(-1)!)}`;
const names: Record<Key, string> = {
  tcp1: "TCP×1 Gbit/s",
  tcp4: "TCP×4 Gbit/s",
  pps: "UDP 64 B pps",
};
const rows = (["tcp1", "tcp4", "pps"] as const).map((k) => {
  const off = median(samples.off[k]), on = median(samples.on[k]);
  // Per-round ratios (each pair measured back to back): their spread says how much is noise.
  const ratios = samples.on[k].map((v, i) => v / samples.off[k][i]);
  return {
    k,
    ratio: on / off,
    paired: median(ratios),
    line: `| ${names[k]} | ${fmt(k, off)} (${spread(k, samples.off[k])}) | ${fmt(k, on)} (${
      spread(k, samples.on[k])
    }) | ${(on / off).toFixed(3)} | ${median(ratios).toFixed(3)} (${sorted(ratios)[0].toFixed(2)}–${
      sorted(ratios).at(-1)!.toFixed(2)
    }) |`,
  };
});
// The verdict on the paired ratios: each pair ran back to back, so load that drifts between rounds
// (a shared machine) cancels out; the ratio of medians is shown beside it.
const worst = Math.min(...rows.map((r) => r.paired));
const table = [
  `## ${
    new Date().toISOString()
  } — median (min–max) of ${ROUNDS} rounds of ${SECONDS} s, ${navigator.hardwareConcurrency} CPUs, load ${
    Deno.loadavg().map((x) => x.toFixed(1)).join(" ")
  }`,
  "",
  "| measure | kernel VXLAN + masquerading | + input allow-list | ratio of medians | median of paired ratios (min–max) |",
  "|---|---|---|---|---|",
  ...rows.map((r) => r.line),
  "",
  `- verdict: ${worst >= 0.95 ? "MET" : "NOT MET"} — the worst median of paired ratios is ${
    worst.toFixed(3)
  } (goal ≥ 0.95)`,
  `- packets the allow-list refused during the runs (all peers' traffic): ${refusedTotal}`,
  "",
].join("\n");
console.log(table);
if (WRITE) {
  const path = new URL("./RESULTS-allowlist.md", import.meta.url);
  let prev = "";
  try {
    prev = await Deno.readTextFile(path);
  } catch {
    prev = "# Input allow-list benchmark results\n\nProduced by `deno run -A bench/allowlist.ts " +
      "--write`: kernel VXLAN pod to pod between two node namespaces, weavets' masquerading on in " +
      "both (conntrack on), with and without the `inet weavets_input` table the daemon installs; " +
      "one topology, the table toggled before each measurement in a random order.\n\n";
  }
  await Deno.writeTextFile(path, prev + table + "\n");
  await new Deno.Command(Deno.execPath(), { args: ["fmt", path.pathname] }).output();
}
