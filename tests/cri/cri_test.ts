/**
 * weavets on the kubelet's path: CRI → containerd 1.6 (Debian's, its built-in CRI plugin and
 * vendored libcni) → the shipped conflist (weavets, then portmap) → the product, on two nodes
 * with a real `weavets daemon` each. The test is the kubelet: it speaks CRI v1 to each node's
 * containerd (tests/cri/cri_client.ts). One cluster, steps in order (each builds on the last).
 */
import assert from "node:assert/strict";
import { Cluster, type Node } from "../../cli/demo/cluster.ts";
import { spawnIn } from "../../cli/demo/exec.ts";
import { listPendingReleases, pendingDirFor } from "../../cni/pending.ts";
import { IS_ROOT } from "../harness/netns.ts";
import { SHIPPED_CONFLIST } from "../e2e/e2e.ts";
import {
  CRI_PACKAGES,
  type CriNode,
  type CriPod,
  httpGetIn,
  missingForCri,
  runIn,
  withCriCluster,
} from "./cri_cluster.ts";
import { mountPoints } from "./containerd.ts";

const missing = IS_ROOT ? missingForCri() : [];
if (missing.length) {
  console.error(
    `tests/cri/cri_test.ts: skipped: ${missing.join(", ")} missing (apt-get install ` +
      `--no-install-recommends ${CRI_PACKAGES})`,
  );
}

const NET = SHIPPED_CONFLIST.name;

/** One echo request from a pod; resolves to whether a reply came within `waitS`. */
async function ping(from: CriPod, to: string, waitS = 3): Promise<string | undefined> {
  const r = await runIn(from.netns, "busybox", ["ping", "-c", "1", "-W", `${waitS}`, to]);
  return r.code === 0 ? undefined : (r.stdout + r.stderr).trim();
}

async function assertReach(from: CriPod, to: CriPod): Promise<void> {
  const err = await ping(from, to.ip);
  assert.equal(err, undefined, `${from.name} (${from.ip}) → ${to.name} (${to.ip}): ${err}`);
}

/** Every node's footprint matches its live pods exactly. */
async function assertNoLeaks(nodes: CriNode[], when: string): Promise<void> {
  for (const cn of nodes) {
    assert.deepEqual(
      await cn.footprint(),
      cn.expectedFootprint(NET),
      `${cn.node.name} ${when}: veths, IPAM, libcni cache and netns mounts match its live pods`,
    );
  }
}

function pendingReleases(node: Node): string[] {
  return listPendingReleases(pendingDirFor(node.netns)).map((e) => e.name);
}

async function logLines(node: Node, msg: string): Promise<Record<string, unknown>[]> {
  return (await Deno.readTextFile(node.logFile)).split("\n").flatMap((l) => {
    try {
      const j = JSON.parse(l);
      return j.msg === msg ? [j] : [];
    } catch {
      return [];
    }
  });
}

/** A busybox HTTP server inside a pod's namespace (the container behind a hostPort). */
function serveIn(pod: CriPod, dir: string, body: string): Deno.ChildProcess {
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(`${dir}/index.html`, `${body}\n`);
  return spawnIn(pod.netns, "busybox", ["httpd", "-f", "-p", "80", "-h", dir], {
    stdout: "null",
    stderr: "null",
  });
}

Deno.test({
  name: "cri: containerd 1.6 runs pods on the shipped conflist across two nodes — pod IPs, " +
    "pod↔pod, hostPort, Stop/Remove without leaks, containerd restart, daemon kill -9, a burst " +
    "of 20, and a daemon that cannot see containerd's netns mounts",
  ignore: !IS_ROOT || missing.length > 0,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await withCriCluster({ nodes: 2 }, async (c, nodes) => {
      const [a, b] = nodes;
      const workdir = c.spec.workdir;

      const v = await a.cri.version();
      assert.equal(v.runtimeName, "containerd");
      assert.match(v.runtimeVersion, /^1\.6\./);

      let pa: CriPod, pb: CriPod;
      await t.step(
        "RunPodSandbox: the IP in PodSandboxStatus is the pod's, from weavets IPAM",
        async () => {
          pa = await a.runPod("web", { portMappings: [{ containerPort: 80, hostPort: 8080 }] });
          pb = await b.runPod("client");
          for (const p of [pa, pb]) {
            assert.match(
              p.ip,
              /^10\.(3[2-9]|4[0-7])\./,
              "in the default IPALLOC_RANGE 10.32.0.0/12",
            );
            const r = await runIn(p.netns, "ip", ["-4", "-o", "addr", "show", "dev", "eth0"]);
            assert.match(r.stdout, new RegExp(` ${p.ip.replaceAll(".", "\\.")}/`), r.stdout);
            const lo = await runIn(p.netns, "ip", ["-o", "link", "show", "dev", "lo"]);
            assert.match(lo.stdout, /UP/, "containerd's loopback plugin ran");
          }
          const served = await logLines(a.node, "pod event");
          assert.ok(
            served.some((e) => e.command === "ADD" && e.result === "ok"),
            "the node's daemon served the ADD",
          );
          await assertNoLeaks(nodes, "with two pods");
        },
      );

      await t.step("pod ↔ pod across nodes", async () => {
        await assertReach(pa, pb);
        await assertReach(pb, pa);
      });

      await t.step(
        "hostPort through portmap: another node reaches the pod at the node's address",
        async () => {
          const server = serveIn(pa, `${workdir}/www`, "hello-cri");
          try {
            const url = `http://${a.node.underlayIp}:8080/`;
            const body = await Cluster.waitFor(
              "the hostPort to answer",
              async () => {
                try {
                  return await httpGetIn(b.node.netns, url);
                } catch {
                  return undefined;
                }
              },
              15_000,
              300,
            );
            assert.equal(body, "hello-cri");
          } finally {
            server.kill("SIGKILL");
            await server.status;
          }
        },
      );

      await t.step(
        "containerd restart: pods keep their network; Stop/Remove after it cleans up",
        async () => {
          for (const cn of nodes) {
            await cn.containerd.stop();
            await cn.containerd.start();
          }
          const st = await a.cri.podSandboxStatus(pa.id);
          assert.equal(st.ip, pa.ip, "the restarted containerd reports the same IP");
          assert.ok(st.ready);
          await assertReach(pb, pa);
          const pc = await a.runPod("after-restart");
          await assertReach(pc, pb);
          await assertNoLeaks(nodes, "after containerd restarts");
          for (const p of [pa, pb, pc]) await nodes.find((n) => n.node === p.node)!.removePod(p);
          await assertNoLeaks(nodes, "after Stop/Remove of every pod");
          // The portmap rule went with its pod.
          const nat = await runIn(a.node.netns, "iptables-save", ["-t", "nat"]);
          assert.doesNotMatch(nat.stdout, /dport 8080/, "portmap's DNAT rule is gone");
        },
      );

      await t.step(
        "a burst of 20 RunPodSandbox at once on one node, then all removed at once",
        async () => {
          const t0 = performance.now();
          const pods = await Promise.all(
            Array.from({ length: 20 }, (_, i) => a.runPod(`burst${i}`)),
          );
          const took = performance.now() - t0;
          assert.equal(new Set(pods.map((p) => p.ip)).size, 20, "20 distinct addresses");
          console.log(`20 sandboxes at once: ${(took / 1000).toFixed(1)} s`);
          const remote = await b.runPod("burst-peer");
          // Each new pod reaches the other node (a few in parallel: bounded).
          for (let i = 0; i < pods.length; i += 5) {
            await Promise.all(pods.slice(i, i + 5).map((p) => assertReach(p, remote)));
          }
          await assertNoLeaks(nodes, "with 21 pods");
          await Promise.all(pods.map((p) => a.removePod(p)));
          await b.removePod(remote);
          await assertNoLeaks(nodes, "after removing the burst");
        },
      );

      await t.step(
        "kill -9 of the daemon: pods keep working, Stop/Remove succeeds, the address is released when it is back",
        async () => {
          const pa2 = await a.runPod("survivor");
          const gone = await a.runPod("stopped-while-down");
          const pb2 = await b.runPod("peer");
          await c.stopDaemon(a.node, "SIGKILL");
          await assertReach(pb2, pa2);
          await a.removePod(gone);
          assert.equal(pendingReleases(a.node).length, 1, "DEL kept the release for the daemon");
          c.startDaemon(a.node);
          await c.waitReady(a.node, 60_000);
          await Cluster.waitFor("the kept release to be replayed", async () => {
            const ids = (await c.allocations(a.node)).map((x) => x.id);
            return !ids.includes(gone.id) && pendingReleases(a.node).length === 0;
          }, 30_000);
          await assertReach(pb2, pa2);
          const fresh = await a.runPod("after-daemon-restart");
          await assertReach(fresh, pb2);
          await assertNoLeaks(nodes, "after the daemon came back");
          for (const p of [pa2, fresh]) await a.removePod(p);
          await b.removePod(pb2);
          await assertNoLeaks(nodes, "after removing them");
        },
      );

      await t.step(
        "the daemon cannot see containerd's netns mounts: the plugin does the work, every pod starts",
        async () => {
          // The daemon again, in a mount namespace of its own that receives no mounts (a DaemonSet
          // whose mount propagation does not work): containerd's later netns mounts are, there,
          // only the empty placeholder files under them.
          await c.stopDaemon(a.node, "SIGTERM");
          a.node.daemon = spawnIn(a.node.netns, "unshare", [
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            'log=$1; shift; exec "$@" >>"$log" 2>&1',
            "sh",
            a.node.logFile,
            c.spec.bin,
            ...c.daemonArgs(a.node),
          ], { env: { WEAVETS_LOG_LEVEL: "debug" }, stdout: "null", stderr: "null" });
          await c.waitReady(a.node, 60_000);
          const daemonPid = a.node.daemon.pid;
          const before = (await logLines(a.node, "pod event")).length;

          const pods = await Promise.all(
            Array.from({ length: 5 }, (_, i) => a.runPod(`noprop${i}`)),
          );
          const peer = await b.runPod("noprop-peer");
          // Negative control: the daemon really sees no namespace at those paths.
          const fsType = async (mnt: string | null, path: string) =>
            (await runIn(a.node.netns, "nsenter", [
              ...(mnt ? [`--mount=${mnt}`] : []),
              "stat",
              "-f",
              "-c",
              "%T",
              path,
            ])).stdout.trim();
          for (const p of pods) {
            assert.equal(await fsType(null, p.netns), "nsfs");
            assert.notEqual(await fsType(`/proc/${daemonPid}/ns/mnt`, p.netns), "nsfs");
            await assertReach(p, peer);
          }
          const adds = (await logLines(a.node, "pod event")).slice(before)
            .filter((e) => e.command === "ADD");
          assert.equal(adds.length, 5);
          for (const e of adds) assert.equal(e.result, "fallback", JSON.stringify(e));
          // Each plugin told the daemon the pod it attached (its hooks: NetworkPolicy).
          const told = (await logLines(a.node, "pod event done by the plugin"))
            .map((e) => e.containerId).sort();
          assert.deepEqual(told, pods.map((p) => p.id).sort());
          await assertNoLeaks(nodes, "with the daemon blind to netns mounts");
          await Promise.all(pods.map((p) => a.removePod(p)));
          await b.removePod(peer);
          await assertNoLeaks(nodes, "after removing them");
          assert.ok(
            !mountPoints().some((m) => m.startsWith(a.containerd.netnsDir + "/")),
            "no netns mount left",
          );
        },
      );
    });
  },
});
