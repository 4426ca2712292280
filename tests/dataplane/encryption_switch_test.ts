/**
 * Root test (issue 13, "encryption is all-or-nothing"): two real daemons restarted unencrypted →
 * encrypted → unencrypted on one set of nodes and pods. While encrypted: no VXLAN device on
 * either node, nothing listening on UDP 6784, status says "encrypted", and an underlay capture
 * shows no pod plaintext. Negative control: both unencrypted phases show the same plaintext on
 * the underlay (and the VXLAN device), so a pass is not a blind capture.
 */
import assert from "node:assert/strict";
import { captureUdp } from "../harness/capture.ts";
import { linkNames } from "../harness/links.ts";
import { IS_ROOT } from "../harness/netns.ts";
import { sh } from "../harness/sh.ts";
import { until } from "../harness/wait.ts";
import { Cluster, type Pod, sendMarker } from "./cluster.ts";

const MARKER = "PLAINTEXT-MARKER-7d2e";

async function waitPaths(c: Cluster, path: string): Promise<void> {
  for (const [n, p] of [[0, 1], [1, 0]]) {
    await until(`node ${n} → ${p} on ${path}`, async () => {
      const v = await c.pathTo(n, p);
      return v?.path === path && (path !== "sleeve" || /carries all traffic/.test(v.reason));
    }, 30_000);
  }
}

/** Underlay UDP bytes captured while pod a sends the marker to pod b 2,000 times (42 kB) over TCP. */
function captureMarker(c: Cluster, a: Pod, b: Pod, port: string): Promise<string> {
  return captureUdp(c.underlay, "br0", 20_000, () => sendMarker(a, b, port, MARKER));
}

/** The node's VXLAN device and UDP 6784 listeners (the kernel's VXLAN socket shows in ss). */
async function plaintextState(node: string): Promise<{ vxlan: boolean; udp6784: boolean }> {
  const ss = await sh("ip", "netns", "exec", node, "ss", "-Hlun", "sport = :6784");
  return { vxlan: (await linkNames(node)).includes("vxlan-6784"), udp6784: ss.trim() !== "" };
}

async function restart(c: Cluster, password: string | undefined): Promise<void> {
  for (const i of [0, 1]) await c.kill(i);
  c.opts.password = password;
  for (const i of [0, 1]) await c.startDriver(i);
}

Deno.test({
  name: "encryption all-or-nothing: restarted unencrypted → encrypted → unencrypted, no VXLAN " +
    "device, no UDP 6784 and no pod plaintext on the underlay while encrypted (negative " +
    "control: both unencrypted phases show it)",
  ignore: !IS_ROOT,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const c = await Cluster.start({
      nodes: 2,
      podsPerNode: 1,
      fastdp: true,
      daemon: true,
      prefix: "wtenc",
    });
    const [a, b] = c.pods;
    try {
      await waitPaths(c, "fastdp");
      for (const n of c.nodes) {
        assert.deepEqual(await plaintextState(n), { vxlan: true, udp6784: true }, n);
      }
      assert.ok((await captureMarker(c, a, b, "5101")).includes(MARKER), "control: plaintext seen");

      await restart(c, "switch-pw");
      await waitPaths(c, "sleeve");
      for (const [i, n] of c.nodes.entries()) {
        assert.deepEqual(await plaintextState(n), { vxlan: false, udp6784: false }, n);
        const s = await c.status(i);
        assert.equal(s.encrypted, true);
        assert.equal(s.plaintextPath, false, `${n} reports a plaintext path`);
      }
      const fdb = await sh("bridge", "-n", c.nodes[0], "fdb", "show");
      assert.ok(!/dst /.test(fdb), `no VXLAN FDB entry is left:\n${fdb}`);
      assert.ok(
        !(await captureMarker(c, a, b, "5102")).includes(MARKER),
        "plaintext while encrypted",
      );

      await restart(c, undefined);
      await waitPaths(c, "fastdp");
      for (const n of c.nodes) {
        assert.deepEqual(await plaintextState(n), { vxlan: true, udp6784: true }, n);
      }
      assert.ok(
        (await captureMarker(c, a, b, "5103")).includes(MARKER),
        "control: plaintext again",
      );
    } catch (e) {
      for (let i = 0; i < c.nodes.length; i++) console.error(`--- node ${i}\n${c.driverLog(i)}`);
      throw e;
    } finally {
      await c.stop();
    }
  },
});
