/**
 * Root end-to-end tests of the data plane: 3 nodes (namespaces on an underlay bridge), 2 pods on
 * each node's `weave` bridge, forwarding done by the real data-plane component (node_driver.ts).
 * Same checks on the fast path, the userspace path and the encrypted userspace path.
 */
import assert from "node:assert/strict";
import { IS_ROOT } from "../harness/netns.ts";
import { sh } from "../harness/sh.ts";
import { Cluster, firstLine, peerName, ping, type Pod, tool, underlayIp } from "./cluster.ts";

const dec = new TextDecoder();

async function allPairsPing(c: Cluster): Promise<void> {
  const failed: string[] = [];
  await Promise.all(c.pods.map(async (a) => {
    for (const b of c.pods) {
      if (a !== b && !(await ping(a, b)) && !(await ping(a, b))) failed.push(`${a.ip} -> ${b.ip}`);
    }
  }));
  assert.deepEqual(failed, [], "every pod reaches every other pod");
}

async function arpAcrossNodes(c: Cluster): Promise<void> {
  // After the pings, each pod's neighbour table holds the remote pods' real MACs (ARP crossed).
  const a = c.pods[0];
  const neigh = JSON.parse(await sh("ip", "-n", a.ns, "-j", "neigh", "show", "dev", "eth0")) as {
    dst: string;
    lladdr?: string;
  }[];
  for (const b of c.pods.filter((p) => p.node !== a.node)) {
    assert.equal(neigh.find((n) => n.dst === b.ip)?.lladdr, b.mac, `ARP for ${b.ip}`);
  }
}

/**
 * `mib` MiB of deterministic bytes (from `seed`) over TCP from `from` to `to`; both ends print the
 * byte count and sha256, which must agree. Returns the sender's line.
 */
async function transfer(
  from: Pod,
  to: Pod,
  opts: { port: string; mib: number; seed: string },
): Promise<string> {
  const sink = tool(to, "sink", opts.port);
  const { line, rest } = await firstLine(sink);
  assert.equal(line, "listening");
  const src = await tool(from, "source", to.ip, opts.port, String(opts.mib), opts.seed).output();
  assert.ok(src.success, dec.decode(src.stderr));
  let got = "";
  for (;;) {
    const { value, done } = await rest.read();
    if (done) break;
    got += dec.decode(value);
  }
  await sink.status;
  const sent = dec.decode(src.stdout).trim();
  assert.equal(got.trim().split("\n").pop(), sent, `${opts.mib} MiB arrive intact (same sha256)`);
  return sent;
}

async function transfer100M(from: Pod, to: Pod): Promise<void> {
  const sent = await transfer(from, to, { port: "5001", mib: 100, seed: "42" });
  assert.match(sent, /^104857600 [0-9a-f]{64}$/);
}

async function multicast(c: Cluster): Promise<void> {
  const sender = c.pods.find((p) => p.node === 0)!;
  const receivers = [1, 2].map((n) => c.pods.find((p) => p.node === n)!);
  // Until all 10 arrived, or 20 s: the sender's own start-up took seconds at load 30, and a
  // 4 s window from the join closed while datagrams were still coming (5/10 received).
  const recv = receivers.map((r) => tool(r, "mrecv", "239.1.1.1", "5002", "20", "10"));
  const heads = await Promise.all(recv.map(firstLine));
  for (const h of heads) assert.equal(h.line, "joined");
  await new Promise((r) => setTimeout(r, 300));
  const s = await tool(sender, "msend", "239.1.1.1", "5002", "hello-group", "10").output();
  assert.ok(s.success, dec.decode(s.stderr));
  for (const [k, h] of heads.entries()) {
    let text = "";
    for (;;) {
      const { value, done } = await h.rest.read();
      if (done) break;
      text += dec.decode(value);
    }
    await recv[k].status;
    const got = text.split("\n").filter((l) => l.startsWith("hello-group")).length;
    assert.ok(got >= 8, `receiver on node ${k + 1} got ${got}/10 multicast datagrams`);
  }
}

async function withCluster(
  opts: ConstructorParameters<typeof Cluster>[0],
  fn: (c: Cluster) => Promise<void>,
): Promise<void> {
  const c = await Cluster.start(opts);
  try {
    await fn(c);
  } catch (e) {
    for (let i = 0; i < c.nodes.length; i++) console.error(`--- node ${i} log\n${c.driverLog(i)}`);
    throw e;
  } finally {
    await c.stop();
  }
}

Deno.test({
  name:
    "fast path: pods on 3 nodes ping, ARP, multicast, 100 MiB intact; FDB from gossip; kill -9 keeps traffic, a restart fixes only what differs; a cut fast path falls back and returns",
  ignore: !IS_ROOT,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withCluster({ nodes: 3, podsPerNode: 2, fastdp: true }, async (c) => {
      const st = await c.status(0);
      assert.equal(c.mtu, 1450, "underlay 1500 - VXLAN 50");
      // Wait for gossip to carry pod MACs (the bridge learns them from their first frames).
      await allPairsPing(c);
      const vx = "vxlan-6784";
      let fdb = "";
      for (let t = 0; t < 30; t++) {
        fdb = await sh("bridge", "-n", c.nodes[0], "fdb", "show", "dev", vx);
        if (c.pods.filter((p) => p.node !== 0).every((p) => fdb.includes(`${p.mac} dst`))) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      for (const p of c.pods.filter((p) => p.node !== 0)) {
        assert.ok(fdb.includes(`${p.mac} dst ${underlayIp(p.node)}`), `${p.mac} in\n${fdb}`);
      }
      for (const n of [1, 2]) {
        assert.ok(fdb.includes(`00:00:00:00:00:00 dst ${underlayIp(n)}`), "flood entry per peer");
      }
      assert.ok(!fdb.includes(`dst ${underlayIp(0)}`), "no entry towards self");
      assert.equal((st.peers as unknown[]).length, 2);
      await arpAcrossNodes(c);
      await multicast(c);
      await transfer100M(c.pods[0], c.pods[5]);

      // Crash node 0's data plane: the kernel keeps forwarding.
      const before = await sh("bridge", "-n", c.nodes[0], "fdb", "show", "dev", vx);
      // A stale entry (a peer long gone) that the restarted data plane must remove.
      await sh(
        "bridge",
        "-n",
        c.nodes[0],
        "fdb",
        "append",
        "02:de:ad:be:ef:01",
        "dev",
        vx,
        "dst",
        "192.168.77.99",
      );
      await c.kill(0);
      assert.ok(await ping(c.pods[0], c.pods[3], 2), "fast path works while the daemon is down");
      // Something that differs, for the restarted data plane to fix.
      await sh("ip", "-n", c.nodes[0], "link", "set", vx, "mtu", "1300");
      await c.startDriver(0);
      c.setPeers();
      await new Promise((r) => setTimeout(r, 1000)); // gossip + probes
      assert.ok(!c.driverLog(0).includes("fdb reconciled"), c.driverLog(0));
      await new Promise((r) => setTimeout(r, 2500)); // the adoption grace (2 s here) ends
      const after = await sh("bridge", "-n", c.nodes[0], "fdb", "show", "dev", vx);
      const norm = (s: string) => s.split("\n").filter((l) => l.includes(" dst ")).sort();
      assert.deepEqual(norm(after), norm(before), "restart left a right FDB as it was");
      assert.match(
        c.driverLog(0),
        /fdb reconciled.*"added":0,"removed":1/,
        "only the stale entry went",
      );
      assert.ok(await ping(c.pods[3], c.pods[0]));
      const peers = (await c.status(1)).peers as { peer: string; path: string }[];
      assert.deepEqual(peers.map((p) => p.path), ["fastdp", "fastdp"]);
      assert.ok(peers.some((p) => p.peer === peerName(0)));

      await cutFastPath(c);
    }),
});

async function tooBigGetsIcmp(c: Cluster, a: Pod, b: Pod): Promise<void> {
  const port = `vp${a.node}0`;
  await sh("ip", "-n", c.nodes[a.node], "link", "set", port, "mtu", "9000");
  await sh("ip", "-n", a.ns, "link", "set", "eth0", "mtu", "9000");
  const r = await new Deno.Command("ip", {
    args: ["netns", "exec", a.ns, "busybox", "ping", "-c", "3", "-s", "3000", "-W", "2", b.ip],
  }).output();
  const out = dec.decode(r.stdout);
  const route = await sh("ip", "-n", a.ns, "route", "get", b.ip);
  assert.match(route, new RegExp(`mtu ${c.mtu}`), `the pod learned the path MTU: ${route}`);
  assert.match(out, /[123] packets received/, "later packets, fragmented by the pod, arrive");
  assert.ok(((await c.status(a.node)).sleeve as Record<string, number>).txIcmpTooBig >= 1);
}

const pathOf = (c: Cluster, node: number, peer: number) => c.pathTo(node, peer);

async function waitPath(c: Cluster, node: number, peer: number, path: string, ms: number) {
  const t0 = Date.now();
  for (;;) {
    const p = await pathOf(c, node, peer);
    if (p?.path === path) return Date.now() - t0;
    if (Date.now() - t0 > ms) {
      assert.fail(`node ${node} -> ${peer}: ${JSON.stringify(p)}, wanted ${path}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Drops VXLAN from node 0 at node 1: that pair moves to the userspace path and back. */
async function cutFastPath(c: Cluster): Promise<void> {
  const n1 = c.nodes[1];
  const a = c.pods.find((p) => p.node === 0)!, b = c.pods.find((p) => p.node === 1)!;
  const nft = (command: string) => sh("ip", "netns", "exec", n1, "nft", command);
  await nft("add table ip wtdcut");
  await nft("add chain ip wtdcut input { type filter hook input priority 0 ; }");
  await nft(`add rule ip wtdcut input ip saddr ${underlayIp(0)} udp dport 6784 drop`);
  const took = await waitPath(c, 0, 1, "sleeve", 15_000);
  await waitPath(c, 1, 0, "sleeve", 15_000);
  assert.match((await pathOf(c, 0, 1))!.reason, /unanswered/);
  assert.equal((await pathOf(c, 0, 2))?.path, "fastdp", "other pairs keep the fast path");
  // The ends move up to a probe interval apart (more on a loaded machine): a frame node 1 still
  // sent over VXLAN after node 0 moved teaches node 0's bridge b behind the VXLAN port again (the
  // flake this step had: a's frames then went into VXLAN, where node 1 has no entry any more, and
  // b, hearing nothing, never corrected it). Made certain here: the data plane must forget it.
  await learnAt(c, 0, b, "vxlan-6784");
  assert.ok(
    await ping(a, b, 2) || await ping(a, b, 2),
    `pods talk after the fallback (${took} ms)`,
  );
  await transferSmall(a, b);
  await nft("delete table ip wtdcut");
  await waitPath(c, 0, 1, "fastdp", 15_000);
  await waitPath(c, 1, 0, "fastdp", 15_000);
  // The same on the way back: b behind the TAP while the pair is on the fast path.
  await learnAt(c, 0, b, "vethwe-tap");
  assert.ok(await ping(a, b, 2) || await ping(a, b, 2), "pods talk after the fast path returns");
  assert.ok(await ping(b, a, 2) || await ping(b, a, 2), "both ways");
}

/** What node `n`'s bridge learns when a frame from `pod` comes in on `port` (a dynamic entry). */
async function learnAt(c: Cluster, n: number, pod: Pod, port: string): Promise<void> {
  await sh("bridge", "-n", c.nodes[n], "fdb", "replace", pod.mac, "dev", port, "master", "dynamic");
}

async function transferSmall(from: Pod, to: Pod): Promise<void> {
  await transfer(from, to, { port: "5004", mib: 5, seed: "7" });
}

Deno.test({
  name:
    "userspace path (--no-fastdp): pods on 3 nodes ping, ARP, multicast, 100 MiB intact; masquerading out of the pod range",
  ignore: !IS_ROOT,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withCluster({ nodes: 3, podsPerNode: 2, fastdp: false, masquerade: true }, async (c) => {
      assert.equal(
        await sh("ip", "-n", c.nodes[0], "-o", "link", "show", "vxlan-6784").catch(() => ""),
        "",
      );
      await allPairsPing(c);
      await arpAcrossNodes(c);
      await multicast(c);
      await transfer100M(c.pods[1], c.pods[4]);
      const s = (await c.status(0)).sleeve as Record<string, number>;
      assert.ok(s.txBytes > 100e6 && s.rxFrames > 0, JSON.stringify(s));

      // A pod with a too-large MTU gets "fragmentation needed" back and then gets through.
      await tooBigGetsIcmp(c, c.pods[0], c.pods[3]);

      // Masquerading: a host on the underlay, which has no route to the pod range, answers a pod.
      await sh("ip", "-n", c.underlay, "addr", "add", "192.168.77.254/24", "dev", "br0");
      const pod = c.pods[2];
      const out = await sh(
        "ip",
        "netns",
        "exec",
        pod.ns,
        "busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        "192.168.77.254",
      );
      assert.match(out, /1 packets received/);
      const table = await sh(
        "ip",
        "netns",
        "exec",
        c.nodes[pod.node],
        "nft",
        "list",
        "table",
        "ip",
        "weavets",
      );
      assert.match(table, /masquerade/);
    }),
});

Deno.test({
  name: "encrypted userspace path: same traffic, and the underlay never shows the plaintext",
  ignore: !IS_ROOT,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withCluster({ nodes: 3, podsPerNode: 2, fastdp: true, password: "s3cret" }, async (c) => {
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
          "-B",
          "32768", // KiB: a busy 2-core machine drops packets with the default 2 MiB buffer
          "-s",
          "0",
          "-w",
          pcap,
          "udp",
        ],
        stdout: "null",
        stderr: "piped",
      }).spawn();
      try {
        await new Promise((r) => setTimeout(r, 800));
        await allPairsPing(c);
        await arpAcrossNodes(c);
        await multicast(c);
        const marker = "KNOWN-PLAINTEXT-4f1c";
        const sink = tool(c.pods[3], "sink", "5003");
        assert.equal((await firstLine(sink)).line, "listening");
        const t = await tool(c.pods[0], "text", c.pods[3].ip, "5003", marker, "500").output();
        assert.ok(t.success, dec.decode(t.stderr));
        await sink.status;
        await transfer100M(c.pods[0], c.pods[5]);
      } finally {
        await new Promise((r) => setTimeout(r, 300));
        cap.kill("SIGTERM");
        await cap.status;
      }
      const bytes = await Deno.readFile(pcap);
      await Deno.remove(pcap);
      // The capture must have seen the traffic for "no plaintext" to mean anything; tcpdump drops
      // packets on a loaded machine (97 MB of ~105 MB seen in a CI run at load 25), so most of it.
      assert.ok(bytes.length > 60e6, `the capture saw the traffic (${bytes.length} bytes)`);
      const text = new TextDecoder("latin1").decode(bytes);
      assert.ok(!text.includes("KNOWN-PLAINTEXT-4f1c"), "plaintext visible on the underlay");
      assert.equal((await c.status(0)).fastdp, false, "encrypted peers never use VXLAN");
      const s = (await c.status(3 - 3)).sleeve as Record<string, number>;
      assert.equal(s.rxAuthFailed, 0);
    }),
});

Deno.test({
  name:
    "the real daemon with the data-plane component: gossip over the mesh programs the fast path; encrypted peers use the userspace path",
  ignore: !IS_ROOT,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    for (const password of [undefined, "daemon-pw"]) {
      await withCluster(
        { nodes: 3, podsPerNode: 1, fastdp: true, password, daemon: true },
        async (c) => {
          const want = password ? "sleeve" : "fastdp";
          for (const n of [0, 1, 2]) {
            for (const p of [0, 1, 2].filter((p) => p !== n)) await waitPath(c, n, p, want, 20_000);
          }
          await allPairsPing(c);
          if (!password) {
            // A pod's MAC is announced once its node's bridge learned it (the pings) and its
            // daemon polled (1 s): the pings may finish before that reaches node 0.
            const want = c.pods.filter((p) => p.node !== 0)
              .map((p) => `${p.mac} dst ${underlayIp(p.node)}`);
            let fdb = "";
            const t0 = Date.now();
            while (Date.now() - t0 < 10_000) {
              fdb = await sh("bridge", "-n", c.nodes[0], "fdb", "show", "dev", "vxlan-6784");
              if (want.every((w) => fdb.includes(w))) break;
              await new Promise((r) => setTimeout(r, 200));
            }
            for (const w of want) assert.ok(fdb.includes(w), `${w} missing:\n${fdb}`);
          }
          await transferSmall(c.pods[0], c.pods[2]);
        },
      );
    }
  },
});
