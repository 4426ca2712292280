/**
 * Root test (issue 17, --trusted-subnets, with issue 13's all-or-nothing): three real daemons
 * with a password, every one given --trusted-subnets 192.168.77.1/32,192.168.77.2/32. Nodes 0
 * and 1 are inside and trust each other: their pods' traffic takes the plaintext fast path. Node 2
 * (192.168.77.3) is outside; it trusts 0 and 1 (it says so in its handshakes), but they do not
 * trust it, so its traffic both ways stays encrypted: a peer's claim alone gets no plaintext.
 * An underlay capture shows the 0→1 marker in plaintext (the positive control for the capture)
 * and neither the 0→2 nor the 2→1 marker; node 2 has no VXLAN device, 0's FDB only points at 1.
 */
import assert from "node:assert/strict";
import { IS_ROOT } from "../harness/netns.ts";
import { sh } from "../harness/sh.ts";
import { Cluster, firstLine, peerName, type Pod, tool } from "./cluster.ts";

type PathView = { peer: string; path: string; reasonKind: string };

async function until(what: string, cond: () => Promise<boolean>, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function pathOf(c: Cluster, n: number, p: number): Promise<PathView | undefined> {
  return ((await c.status(n)).peers as PathView[]).find((x) => x.peer === peerName(p));
}

/** Sends `marker` 2,000 times over TCP from pod a to pod b (42 kB). */
async function send(a: Pod, b: Pod, port: string, marker: string): Promise<void> {
  const sink = tool(b, "sink", port);
  assert.equal((await firstLine(sink)).line, "listening");
  const t = await tool(a, "text", b.ip, port, marker, "2000").output();
  assert.ok(t.success, new TextDecoder().decode(t.stderr));
  await sink.status;
}

/** Underlay UDP captured on the underlay bridge while `traffic` runs. */
async function capture(underlay: string, traffic: () => Promise<void>): Promise<string> {
  const pcap = await Deno.makeTempFile({ suffix: ".pcap" });
  const cap = new Deno.Command("ip", {
    args: ["netns", "exec", underlay, "tcpdump", "-i", "br0", "-U", "--immediate-mode", "-B"]
      .concat(["32768", "-s", "0", "-w", pcap, "udp"]),
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const err = cap.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  while (!said.includes("listening on")) {
    const { value, done } = await err.read();
    if (done) assert.fail(`tcpdump did not start: ${said}`);
    said += value;
  }
  try {
    await traffic();
  } finally {
    await new Promise((r) => setTimeout(r, 1000));
    cap.kill("SIGTERM");
    await cap.status;
    await err.cancel();
  }
  const bytes = await Deno.readFile(pcap);
  await Deno.remove(pcap);
  assert.ok(bytes.length > 60_000, `the capture saw the traffic (${bytes.length} bytes)`);
  return new TextDecoder("latin1").decode(bytes);
}

/** Node's refused-untrusted counter (fastpath/trusted_input.ts); null: no such table. */
async function refusedUntrusted(node: string): Promise<number | null> {
  const r = await new Deno.Command("ip", {
    args: ["netns", "exec", node, "nft", "-j", "list", "counter", "inet", "weavets_fastdp"]
      .concat(["refused_untrusted"]),
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!r.success) return null;
  const items = JSON.parse(new TextDecoder().decode(r.stdout)).nftables as Array<
    { counter?: { packets: number } }
  >;
  return items.find((i) => i.counter)?.counter?.packets ?? null;
}

/** `n` UDP datagrams from `from`'s namespace to `to`:6784 (bash's /dev/udp). */
async function udpTo6784(from: string, to: string, n: number): Promise<void> {
  await sh(
    "ip",
    "netns",
    "exec",
    from,
    "bash",
    "-c",
    `for i in $(seq ${n}); do echo forged > /dev/udp/${to}/6784; done`,
  );
}

async function vxlanIndex(node: string): Promise<number | undefined> {
  const links = JSON.parse(await sh("ip", "-n", node, "-j", "link", "show")) as Array<
    { ifname: string; ifindex: number }
  >;
  return links.find((l) => l.ifname === "vxlan-6784")?.ifindex;
}

async function hasVxlan(node: string): Promise<boolean> {
  const links = JSON.parse(await sh("ip", "-n", node, "-j", "link", "show")) as Array<
    { ifname: string }
  >;
  return links.some((l) => l.ifname === "vxlan-6784");
}

Deno.test({
  name: "trusted subnets: with a password, plaintext VXLAN only between the mutually trusted " +
    "pair; the node outside stays encrypted both ways (capture: its markers never in plaintext)",
  ignore: !IS_ROOT,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const c = await Cluster.start({
      nodes: 3,
      podsPerNode: 1,
      fastdp: true,
      daemon: true,
      password: "trusted-subnets-pw",
      trustedSubnets: ["192.168.77.1/32", "192.168.77.2/32"],
      prefix: "wttrs",
    });
    const [a, b, x] = c.pods;
    try {
      for (const [n, p] of [[0, 1], [1, 0]]) {
        await until(`node ${n} → ${p} on the trusted fast path`, async () => {
          const v = await pathOf(c, n, p);
          return v?.path === "fastdp" && v.reasonKind === "trusted-unencrypted";
        }, 45_000);
      }
      for (const [n, p] of [[0, 2], [1, 2], [2, 0], [2, 1]]) {
        await until(`node ${n} → ${p} encrypted`, async () => {
          const v = await pathOf(c, n, p);
          return v?.path === "sleeve" && v.reasonKind === "encrypted";
        }, 45_000);
      }
      assert.ok(await hasVxlan(c.nodes[0]) && await hasVxlan(c.nodes[1]), "the trusted pair's");
      assert.ok(!(await hasVxlan(c.nodes[2])), "node 2 trusts nobody mutually: no VXLAN device");
      const fdb = await sh("bridge", "-n", c.nodes[0], "fdb", "show", "dev", "vxlan-6784");
      const dsts = [...new Set([...fdb.matchAll(/dst (\S+)/g)].map((m) => m[1]))];
      assert.deepEqual(dsts, ["192.168.77.2"], `node 0's FDB points only at node 1:\n${fdb}`);
      const s0 = await c.status(0);
      assert.deepEqual(s0.unencryptedPeers, [peerName(1)]);
      // `weavets status connections` as the operator reads it: node 1 unencrypted, node 2 not.
      const conns = await sh(
        "ip",
        "netns",
        "exec",
        c.nodes[0],
        "curl",
        "-sf",
        "http://127.0.0.1:6784/status/connections",
      );
      const line = (p: number) => conns.split("\n").find((l) => l.includes(peerName(p))) ?? "";
      assert.match(line(1), / unencrypted fastdp /, conns);
      assert.match(line(2), / encrypted +sleeve /, conns);
      assert.deepEqual((await c.status(2)).unencryptedPeers, []);

      // The fast-path port takes VXLAN only from the trusted peer: node 2 is a peer (the
      // allow-list admits it) but its datagrams to 6784 are refused and counted; node 1's are not.
      assert.equal(await refusedUntrusted(c.nodes[2]), null, "no device, no filter on node 2");
      const before = (await refusedUntrusted(c.nodes[0]))!;
      assert.notEqual(before, null, "node 0 guards its fast-path port");
      await udpTo6784(c.nodes[1], "192.168.77.1", 20);
      assert.equal(await refusedUntrusted(c.nodes[0]), before, "control: the trusted peer passes");
      await udpTo6784(c.nodes[2], "192.168.77.1", 20);
      assert.equal(await refusedUntrusted(c.nodes[0]), before + 20, "node 2's 20 refused");

      const seen = await capture(c.underlay, async () => {
        await send(a, b, "5201", "TRUSTED-PAIR-MARKER-a1");
        await send(a, x, "5202", "OUTSIDE-MARKER-b2");
        await send(x, b, "5203", "OUTSIDE-MARKER-c3");
      });
      assert.ok(seen.includes("TRUSTED-PAIR-MARKER-a1"), "control: the trusted pair is plaintext");
      assert.ok(!seen.includes("OUTSIDE-MARKER-b2"), "0 → 2 seen in plaintext");
      assert.ok(!seen.includes("OUTSIDE-MARKER-c3"), "2 → 1 seen in plaintext");

      // A crash and restart of node 0: the trusted pair's device is adopted (the same device,
      // so the kernel path to node 1 is not torn down), and the pair is back on it.
      const index = await vxlanIndex(c.nodes[0]);
      await c.kill(0);
      await c.startDriver(0);
      assert.equal(await vxlanIndex(c.nodes[0]), index, "the device was kept at start");
      for (const [n, p] of [[0, 1], [1, 0]]) {
        await until(`after the restart, node ${n} → ${p} trusted again`, async () => {
          const v = await pathOf(c, n, p);
          return v?.path === "fastdp" && v.reasonKind === "trusted-unencrypted";
        }, 45_000);
      }
      await until("node 0 → 2 encrypted after the restart", async () => {
        const v = await pathOf(c, 0, 2);
        return v?.path === "sleeve" && v.reasonKind === "encrypted";
      }, 45_000);
      assert.equal(await vxlanIndex(c.nodes[0]), index, "and kept since");
    } catch (e) {
      for (let i = 0; i < c.nodes.length; i++) console.error(`--- node ${i}\n${c.driverLog(i)}`);
      throw e;
    } finally {
      await c.stop();
    }
  },
});
