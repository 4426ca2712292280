/**
 * Issue 17, safe start: on a simulated Weave node with a live stand-in for weaver on 6783, the
 * daemon refuses, says why and what to do, and the node is byte-for-byte unchanged (links with
 * details, addresses, iptables, ip6tables, nft, ipsets).
 */
import assert from "node:assert/strict";
import { weavetsBin } from "../harness/binary.ts";
import { IS_ROOT } from "../harness/netns.ts";
import { sh, shTry } from "../harness/sh.ts";
import { snapshot, stopStandIn, weaverStandIn, withWeaveNode } from "./sim.ts";

/**
 * What the kernel changes by itself is not state: timers in `ip -d -j link` (a bridge's
 * gc_timer) and IPv6 duplicate address detection ending ("tentative").
 */
function stable(s: Record<string, string>): Record<string, string> {
  const drop = (
    k: string,
    v: unknown,
  ) => (k.endsWith("_timer") || k === "tentative" ? undefined : v);
  const json = (t: string) => JSON.stringify(JSON.parse(t, drop), null, 1);
  return { ...s, links: json(s.links), addresses: json(s.addresses) };
}

Deno.test({
  name: "safe start: a live Weave on the node is refused and nothing on the node changes",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withWeaveNode("wtws", async ({ node, tmp }) => {
      const standIn = weaverStandIn(node);
      try {
        const reader = standIn.stdout.getReader();
        const first = new TextDecoder().decode((await reader.read()).value);
        assert.match(first, /ready/);
        const before = stable(await snapshot(node));

        const t0 = performance.now();
        const r = await shTry("ip", [
          "netns",
          "exec",
          node,
          weavetsBin(),
          "daemon",
          `--datadir=${tmp}/data`,
          "--ipalloc-init=consensus=1",
        ]);
        const ms = performance.now() - t0;
        const out = r.stdout + r.stderr;
        assert.equal(r.code, 1, out);
        assert.match(out, /refusing to start/);
        assert.match(out, /TCP 6783 \(control plane\) is held by weaver \(pid \d+\)/);
        assert.match(out, /UDP 6783 \(userspace data path\) is held by weaver/);
        assert.match(out, /Weave Net's weaver is running/);
        assert.match(out, /Nothing on this node was changed/);
        assert.match(out, /delete daemonset weave-net/);
        const after = stable(await snapshot(node));
        assert.deepEqual(after, before);
        console.log(`refused in ${ms.toFixed(0)} ms`);

        // Negative control: the comparison sees a change as small as one MTU.
        await sh("ip", "-n", node, "link", "set", "weave", "mtu", "1400");
        assert.notDeepEqual(stable(await snapshot(node)), before);
      } finally {
        await stopStandIn(standIn);
      }
    }),
});
