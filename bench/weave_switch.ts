/**
 * Switching one node from (simulated) Weave Net to weavets with docs/MIGRATING.md's steps, against
 * a plain daemon restart of the same node, in the same run (issue 17; goal: switch ≤ 2× restart).
 *
 * Each round builds two simulated Weave nodes (tests/weave/migration.ts); node 1 is switched first
 * (untimed: it is the node already on weavets), then node 0 is timed:
 * - switch: from the first command (the conflist install, then `weavets reset --weave`, then the
 *   daemon) until node 0's /status is 200 and its pod 10.32.0.2 pings node 1's pod 10.40.0.2;
 * - restart: SIGTERM node 0's daemon, start it again, until the same two conditions hold.
 * Both end at the same observable point; the restart keeps its IPAM state (consensus is not
 * redone), the switch does the consensus with node 1.
 *   deno run -A bench/weave_switch.ts [--rounds N] [--write]   (--write: bench/RESULTS-weave-switch.md)
 */
import { pingFrom, WeaveCluster } from "../tests/weave/migration.ts";

const args = Deno.args;
const rounds = args.includes("--rounds") ? Number(args[args.indexOf("--rounds") + 1]) || 5 : 5;

async function untilReachable(c: WeaveCluster, t0: number): Promise<number> {
  await c.waitReady(0, 120_000);
  const from = c.nodes[0].pods[0].ns, to = c.nodes[1].pods[0].ip;
  const deadline = Date.now() + 60_000;
  while (!(await pingFrom(from, to, 1))) {
    if (Date.now() > deadline) throw new Error("node 0's pod never reached node 1's");
  }
  return performance.now() - t0;
}

const switchMs: number[] = [];
const restartMs: number[] = [];
for (let r = 0; r < rounds; r++) {
  const c = await WeaveCluster.build("wtbs");
  try {
    const s1 = await c.switchNode(1);
    if (s1.code !== 0) throw new Error(s1.out);
    await c.startDaemon(1);

    let t0 = performance.now();
    const s0 = await c.switchNode(0);
    if (s0.code !== 0) throw new Error(s0.out);
    await c.startDaemon(0);
    switchMs.push(await untilReachable(c, t0));

    t0 = performance.now();
    await c.stopDaemon(0);
    await c.startDaemon(0);
    restartMs.push(await untilReachable(c, t0));
    console.log(
      `round ${r + 1}: switch ${switchMs.at(-1)!.toFixed(0)} ms, restart ${
        restartMs.at(-1)!.toFixed(0)
      } ms`,
    );
  } finally {
    await c.stop();
  }
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => {
  const s = sorted(xs);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (xs: number[]) =>
  `median ${median(xs).toFixed(0)} ms (min ${sorted(xs)[0].toFixed(0)}, max ${
    sorted(xs).at(-1)!.toFixed(0)
  }, n=${xs.length})`;
const ratio = median(switchMs) / median(restartMs);
const worst = sorted(switchMs).at(-1)! / sorted(restartMs)[0];
const verdict = ratio <= 2
  ? (worst <= 2 ? "met" : "met at the median (not in the worst pairing)")
  : "not met";
const report = [
  `switch from Weave Net: ${fmt(switchMs)}`,
  `plain restart:         ${fmt(restartMs)}`,
  `ratio of medians ${ratio.toFixed(2)}x (worst switch / best restart ${worst.toFixed(2)}x): ` +
  `goal <= 2x: ${verdict}`,
].join("\n");
console.log(report);
if (args.includes("--write")) {
  const head = `\n## ${new Date().toISOString()} (${rounds} rounds, ${Deno.hostname()})\n\n`;
  Deno.writeTextFileSync(
    new URL("./RESULTS-weave-switch.md", import.meta.url),
    head + "```\n" + report + "\n```\n",
    { append: true },
  );
}
