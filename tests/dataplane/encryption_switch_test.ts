/**
 * Root test (issue 13, "encryption is all-or-nothing"): two real daemons restarted unencrypted →
 * encrypted → unencrypted on one set of nodes and pods. While encrypted: no VXLAN device on
 * either node, nothing listening on UDP 6784, status says "encrypted", and an underlay capture
 * shows no pod plaintext. Negative control: both unencrypted phases show the same plaintext on
 * the underlay (and the VXLAN device), so a pass is not a blind capture.
 */
import assert from "node:assert/strict";
import { IS_ROOT } from "../harness/netns.ts";
import { sh } from "../harness/sh.ts";
import { Cluster, firstLine, peerName, type Pod, tool } from "./cluster.ts";

type PathView = { peer: string; path: string; reason: string };
const MARKER = "PLAINTEXT-MARKER-7d2e";

async function until(what: string, cond: () => Promise<boolean>, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function waitPaths(c: Cluster, path: string): Promise<void> {
  for (const [n, p] of [[0, 1], [1, 0]]) {
    await until(`node ${n} → ${p} on ${path}`, async () => {
      const v = ((await c.status(n)).peers as PathView[]).find((x) => x.peer === peerName(p));
      return v?.path === path && (path !== "sleeve" || /carries all traffic/.test(v.reason));
    }, 30_000);
  }
}

/** Underlay UDP bytes captured while pod a sends the marker to pod b 2,000 times (42 kB) over TCP. */
async function captureMarker(c: Cluster, a: Pod, b: Pod, port: string): Promise<string> {
  const pcap = await Deno.makeTempFile({ suffix: ".pcap" });
  const cap = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      c.underlay,
      "tcpdump",
      "-i",
      "br0",
      "-U",
      "--immediate-mode",
      "-s",
      "0",
      "-w",
      pcap,
      "udp",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Started only when tcpdump says it listens (a fixed wait missed the start on a busy machine).
  const err = cap.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  while (!said.includes("listening on")) {
    const { value, done } = await err.read();
    if (done) assert.fail(`tcpdump did not start: ${said}`);
    said += value;
  }
  try {
    const sink = tool(b, "sink", port);
    assert.equal((await firstLine(sink)).line, "listening");
    const t = await tool(a, "text", b.ip, port, MARKER, "2000").output();
    assert.ok(t.success, new TextDecoder().decode(t.stderr));
    await sink.status;
  } finally {
    // Packets reach tcpdump in blocks up to 1 s late unless in immediate mode: both, to be sure.
    await new Promise((r) => setTimeout(r, 1000));
    cap.kill("SIGTERM");
    await cap.status;
    await err.cancel();
  }
  const bytes = await Deno.readFile(pcap);
  await Deno.remove(pcap);
  assert.ok(bytes.length > 20_000, `the capture saw the traffic (${bytes.length} bytes)`);
  return new TextDecoder("latin1").decode(bytes);
}

/** The node's VXLAN device and UDP 6784 listeners (the kernel's VXLAN socket shows in ss). */
async function plaintextState(node: string): Promise<{ vxlan: boolean; udp6784: boolean }> {
  const links = JSON.parse(await sh("ip", "-n", node, "-j", "link", "show")) as Array<
    { ifname: string }
  >;
  const ss = await sh("ip", "netns", "exec", node, "ss", "-Hlun", "sport = :6784");
  return { vxlan: links.some((l) => l.ifname === "vxlan-6784"), udp6784: ss.trim() !== "" };
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
