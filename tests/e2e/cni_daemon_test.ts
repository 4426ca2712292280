/**
 * The daemon serves the plugin's pod events on its node's CNI socket (cni/server.ts); without a
 * daemon, or where the daemon cannot help, the plugin does the same work itself. Both paths, on a
 * real node with the real binary: DEL with the daemon down succeeds and the release is replayed
 * when it is back; a daemon that does not see the runtime's netns mounts leaves pods to the
 * plugin; a failure nobody classified reaches the runtime without a stack.
 */
import assert from "node:assert/strict";
import { CniPluginError } from "../../cli/demo/cni_runtime.ts";
import { execIn, spawnIn } from "../../cli/demo/exec.ts";
import { listPendingReleases, pendingDirFor } from "../../cni/pending.ts";
import { captureOneArp, HAS_TCPDUMP } from "../harness/capture.ts";
import { IS_ROOT } from "../harness/netns.ts";
import { cni } from "../cni/plugin.ts";
import { secondsSince, WEAVETS_ONLY, withCluster } from "./e2e.ts";
import { Cluster, type Node } from "../../cli/demo/cluster.ts";

/** CNI 1.1.0, for STATUS. */
const CONFLIST = { ...WEAVETS_ONLY, cniVersion: "1.1.0" };

/** The daemon's JSON log lines (debug level in the harness) with message `msg`. */
async function logLines(node: Node, msg: string): Promise<Record<string, unknown>[]> {
  const lines = (await Deno.readTextFile(node.logFile)).split("\n");
  return lines.flatMap((l) => {
    try {
      const j = JSON.parse(l);
      return j.msg === msg ? [j] : [];
    } catch {
      return [];
    }
  });
}

async function podEvents(node: Node, command: string): Promise<Record<string, unknown>[]> {
  return (await logLines(node, "pod event")).filter((j) => j.command === command);
}

/** The releases DEL kept on this machine for the node's daemon. */
function pending(node: Node): string[] {
  return listPendingReleases(pendingDirFor(node.netns)).map((e) => e.name);
}

function nsName(node: Node): string {
  return node.netns.slice(node.netns.lastIndexOf("/") + 1);
}

Deno.test({
  name: "e2e: the daemon serves ADD, DEL and STATUS; killed, DEL still succeeds (the interface " +
    "goes, the release is kept), STATUS says 50; restarted, it releases the address",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withCluster({ nodes: 1, conflist: CONFLIST }, async (c) => {
      const node = c.nodes[0];
      await c.cniStatus(node);
      const arp = HAS_TCPDUMP ? await captureOneArp(nsName(node), "weave") : undefined;
      const served = await c.addPod(node, "a");
      assert.ok(served.ip, "ADD gave an address");
      if (arp) {
        // The daemon sends it after answering: the pod's neighbours still learn the address.
        assert.match(await arp.done, new RegExp(`Request who-has ${served.ip} tell ${served.ip}`));
      }
      assert.deepEqual(c.podAddresses(served), [
        (served.result as { ips: Array<{ address: string }> }).ips[0].address,
      ]);
      const adds = await podEvents(node, "ADD");
      assert.equal(adds.length, 1, "the daemon served the ADD");
      assert.equal(adds[0].result, "ok");
      const status = await c.cli(node, ["status"]);
      assert.match(
        status.stdout,
        /Service: cni\n\s*Socket: \/run\/weavets\/cni\/net-\d+\.sock\n\s*Served: 2 pod events\n\s*Pending releases: 0/,
        "STATUS and ADD",
      );

      const kept = await c.addPod(node, "b");
      await c.deletePod(served);
      assert.equal((await podEvents(node, "DEL")).length, 1, "the daemon served DEL");
      assert.equal(c.hostVeths(node).length, 1, "only the remaining pod's veth");

      // No daemon: DEL runs in the plugin, removes the interface, keeps the release, succeeds.
      await c.stopDaemon(node, "SIGKILL");
      await c.deletePod(kept);
      assert.deepEqual(c.hostVeths(node), [], "the interface is gone without the daemon");
      assert.deepEqual(pending(node), [`${kept.containerId}@eth0.json`]);
      await assert.rejects(
        () => c.cniStatus(node),
        (e) => e instanceof CniPluginError && e.code === 50,
        "no daemon: the network cannot take pods",
      );

      // Back: the daemon replays the kept release; nothing is left anywhere.
      const back = performance.now();
      c.startDaemon(node);
      await c.waitReady(node, 60_000);
      await Cluster.waitFor("the kept release to be replayed", async () => {
        const ids = (await c.allocations(node)).map((a) => a.id);
        return !ids.includes(kept.containerId) && pending(node).length === 0;
      }, 30_000);
      console.log(`the kept release was replayed ${secondsSince(back)} s after the restart`);
      assert.equal(
        (await logLines(node, "released an address kept while the daemon was away"))
          .length,
        1,
      );
      assert.deepEqual((await c.allocations(node)).map((a) => a.id), ["weave:expose"]);

      // One IPAM cannot take (its address is a closed port): `weavets status` shows it waiting.
      const conf = { ...CONFLIST.plugins[0], cniVersion: "1.1.0", name: CONFLIST.name };
      const ghost = await cni("DEL", {
        node: nsName(node),
        conf: { ...conf, daemonAddress: "127.0.0.1:9" },
        containerId: "ghost",
        ifname: "eth0",
      });
      assert.equal(ghost.code, 0, ghost.stdout + ghost.stderr);
      const waiting = await c.cli(node, ["status"]);
      assert.match(
        waiting.stdout,
        /Pending releases: 1 \(kept by DEL while IPAM was away, oldest \S+; replayed every 5 s\)/,
      );
    });
  },
});

Deno.test({
  name: "e2e: a daemon that cannot see the runtime's netns mounts leaves ADD to the plugin, and " +
    "every pod starts",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withCluster({ nodes: 1, conflist: CONFLIST }, async (c) => {
      const node = c.nodes[0];
      // The daemon again, in a mount namespace of its own that receives no mounts: as a DaemonSet
      // whose mount propagation does not work (or a host whose "/" is not shared). A pod's
      // namespace mounted later on /run/netns/<pod> is, there, only the empty file under it.
      await c.stopDaemon(node, "SIGTERM");
      node.daemon = spawnIn(node.netns, "unshare", [
        "--mount",
        "--propagation",
        "private",
        "/bin/sh",
        "-c",
        'log=$1; shift; exec "$@" >>"$log" 2>&1',
        "sh",
        node.logFile,
        c.spec.bin,
        ...c.daemonArgs(node),
      ], { env: { WEAVETS_LOG_LEVEL: "debug" }, stdout: "null", stderr: "null" });
      await c.waitReady(node, 60_000);
      const pid = node.daemon.pid;

      const pods = [];
      for (let i = 0; i < 3; i++) pods.push(await c.addPod(node, `p${i}`));
      for (const p of pods) assert.equal(c.podAddresses(p).length, 1, `${p.name} has an address`);
      // Negative control: in the daemon's mount namespace the path really is no namespace.
      const fsType = async (ns: string | null, path: string) =>
        (await execIn(null, "nsenter", [
          ...(ns ? [`--mount=${ns}`] : []),
          "stat",
          "-f",
          "-c",
          "%T",
          path,
        ])).stdout.trim();
      assert.equal(await fsType(null, pods[0].netns), "nsfs");
      assert.notEqual(await fsType(`/proc/${pid}/ns/mnt`, pods[0].netns), "nsfs");

      const adds = await podEvents(node, "ADD");
      assert.equal(adds.length, 3);
      for (const a of adds) {
        assert.equal(a.result, "fallback");
        assert.match(String(a.why), /cannot use CNI_NETNS: .* is not a network namespace/);
      }
      const warned = (await Deno.readTextFile(node.logFile)).split("\n")
        .filter((l) => l.includes("cannot enter a pod's network namespace"));
      assert.equal(warned.length, 1, "one warning saying what to fix, not one per pod");
      // The daemon still serves DEL (it needs no pod namespace) and releases the addresses.
      for (const p of pods) await c.deletePod(p);
      assert.deepEqual(c.hostVeths(node), []);
      assert.deepEqual((await c.allocations(node)).map((a) => a.id), ["weave:expose"]);
    });
  },
});

Deno.test({
  name: "e2e: a failure nobody classified: the daemon logs its stack at error and leaves the " +
    "pod to the plugin; the runtime gets one line without a stack; nothing leaks",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withCluster({ nodes: 1, conflist: CONFLIST }, async (c) => {
      const node = c.nodes[0];
      const pod = await c.addPod(node, "ok");
      const podNs = `${c.spec.prefix}-n1-x`;
      const ns = await execIn(null, "ip", ["netns", "add", podNs]);
      assert.equal(ns.code, 0, ns.stderr);
      try {
        // A multicast MAC: the kernel refuses the veth (EADDRNOTAVAIL), which ADD does not
        // classify.
        const conf = { ...CONFLIST.plugins[0], cniVersion: "1.1.0", name: CONFLIST.name };
        const r = await cni("ADD", {
          node: nsName(node),
          conf,
          containerId: "badmac",
          netns: `/run/netns/${podNs}`,
          ifname: "eth0",
          args: "IgnoreUnknown=1;MAC=01:00:5e:00:00:01",
        });
        assert.equal(r.json.code, 5, r.stdout);
        assert.match(
          String(r.json.msg),
          /^ADD failed: create veth "vethwepl\w+" failed: EADDRNOTAVAIL/,
        );
        assert.doesNotMatch(r.stdout, /\n\s+at |file:\/\/|\.ts:\d+/, "no stack for the runtime");
        // The plugin's stderr (the runtime's log) has it.
        assert.match(r.stderr, /\n\s+at /);
        const failed = await logLines(
          node,
          "pod event failed unexpectedly: the plugin does it itself",
        );
        assert.equal(failed.length, 1);
        assert.equal(failed[0].level, "error");
        assert.match(String(failed[0].stack), /\n\s+at /, "the stack is in the daemon's log");
        const events = await podEvents(node, "ADD");
        assert.deepEqual(events.map((e) => e.result), ["ok", "fallback"]);
        // Nothing of the failed ADD is left.
        assert.deepEqual(c.hostVeths(node).length, 1);
        assert.deepEqual(
          (await c.allocations(node)).map((a) => a.id).sort(),
          [pod.containerId, "weave:expose"].sort(),
        );
        // A failed pod event is logged at warn (a pod that does not start).
        const del = await cni("DEL", {
          node: nsName(node),
          conf: { ...conf, ipam: { type: "no-such-ipam" } },
          containerId: "badipam",
          ifname: "eth0",
        });
        assert.equal(del.json.code, 5, del.stdout);
        const delEvents = await podEvents(node, "DEL");
        assert.equal(delEvents.at(-1)?.level, "warn");
        assert.equal(delEvents.at(-1)?.code, 5);
      } finally {
        await execIn(null, "ip", ["netns", "delete", podNs]);
      }
    });
  },
});
