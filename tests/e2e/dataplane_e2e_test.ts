/**
 * The data plane end to end, as a user runs it: 3 nodes each running the real `weavets daemon`,
 * two pods per node attached by the real CNI plugin. On the fast path, the userspace path and the
 * encrypted path: every pod pings every other pod (ARP crosses nodes), a TCP transfer across nodes
 * arrives intact (sha256), a multicast group reaches receivers on both other nodes, and
 * `weavets status connections` names the path in use. Encrypted, the underlay never shows what the
 * pods send; unencrypted, the same capture does (so the check can fail).
 */
import assert from "node:assert/strict";
import type { Cluster, Pod } from "../../cli/demo/cluster.ts";
import { IS_ROOT } from "../harness/netns.ts";
import { ipJson } from "../harness/sh.ts";
import { secondsSince, withCluster } from "./e2e.ts";
import { waitPath } from "./data_paths.ts";
import {
  addPods,
  allPairsPing,
  arpAcrossNodes,
  GROUP,
  multicast,
  timed,
  transfer,
} from "./pod_traffic.ts";
import { captured, contains, marker, sendMarker } from "./underlay_capture.ts";

interface Mode {
  label: string;
  password?: string;
  noFastdp?: boolean;
  path: "fastdp" | "sleeve";
  transferMb: number;
}

/** Bytes a node sent through its VXLAN devices (the kernel's counters, read with `ip`). */
async function vxlanTxBytes(node: Cluster["nodes"][number]): Promise<number> {
  const links = await ipJson<
    Array<{ linkinfo?: { info_kind?: string }; stats64?: { tx: { bytes: number } } }>
  >(node.name, "-s", "-d", "link", "show");
  return links.filter((l) => l.linkinfo?.info_kind === "vxlan")
    .reduce((sum, l) => sum + (l.stats64?.tx.bytes ?? 0), 0);
}

/** Pings, ARP, multicast, the path in `weavets status connections`, and a TCP transfer. */
async function exercise(c: Cluster, pods: Pod[], mode: Mode, marker: string): Promise<void> {
  await timed(
    `every connection on ${mode.path}`,
    () => waitPath(c, mode.path, mode.password !== undefined),
  );
  await timed("30 pod-to-pod pings", () => allPairsPing(c, pods));
  arpAcrossNodes(pods);
  await timed(`multicast to ${GROUP} on 2 other nodes`, () => multicast(pods, marker));
  const before = await vxlanTxBytes(c.nodes[0]);
  const secs = await transfer(pods[0], pods[5], mode.transferMb, "5001");
  const viaVxlan = await vxlanTxBytes(c.nodes[0]) - before;
  // The path the status names is the one the bytes took.
  if (mode.path === "fastdp") {
    assert.ok(viaVxlan >= mode.transferMb << 20, `only ${viaVxlan} bytes left by VXLAN`);
  } else {
    assert.ok(viaVxlan < 1 << 20, `${viaVxlan} bytes left by VXLAN on the ${mode.path} path`);
  }
  console.log(
    `  ${mode.transferMb} MiB TCP node 1 -> node 3 intact: ${secs.toFixed(1)} s ` +
      `(${(mode.transferMb * 8 / secs).toFixed(0)} Mbit/s)`,
  );
}

function dataplaneTest(mode: Mode, fn: (c: Cluster, pods: Pod[]) => Promise<void>) {
  Deno.test({
    name: `e2e data plane, ${mode.label}: 3 nodes x 2 CNI pods ping all pairs, ARP, ` +
      `multicast ${GROUP} on 2 other nodes, ${mode.transferMb} MiB TCP intact, ` +
      `status shows ${mode.path}`,
    ignore: !IS_ROOT,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const t0 = performance.now();
      await withCluster(
        { nodes: 3, password: mode.password, noFastdp: mode.noFastdp },
        async (c) => {
          console.log(`  cluster up: ${secondsSince(t0)} s`);
          const pods = await timed("6 pods attached by the CNI plugin", () => addPods(c));
          await fn(c, pods);
        },
      );
      console.log(`  ${mode.label}: ${secondsSince(t0)} s in all`);
    },
  });
}

const FAST: Mode = { label: "fast path", path: "fastdp", transferMb: 100 };
dataplaneTest(FAST, (c, pods) => exercise(c, pods, FAST, marker()));

const SLEEVE: Mode = { label: "userspace path", noFastdp: true, path: "sleeve", transferMb: 100 };
dataplaneTest(SLEEVE, async (c, pods) => {
  await exercise(c, pods, SLEEVE, marker());
  // The control for the encrypted test: unencrypted, the capture does show what pods send.
  const text = marker();
  const bytes = await captured(c, 20, () => sendMarker(pods[1], pods[3], text, "5003"));
  assert.ok(contains(bytes, text), "unencrypted, the underlay shows the plaintext");
});

const ENCRYPTED: Mode = {
  label: "encrypted",
  password: "e2e-s3cret",
  path: "sleeve",
  transferMb: 100,
};
dataplaneTest(ENCRYPTED, async (c, pods) => {
  const text = marker();
  const bytes = await captured(c, 60, async () => {
    await sendMarker(pods[1], pods[3], text, "5003");
    await exercise(c, pods, ENCRYPTED, text);
  });
  console.log(`  underlay capture: ${(bytes.length / 1e6).toFixed(1)} MB`);
  // Half the transfer at least (tcpdump may drop some under load): it saw the pods' traffic.
  assert.ok(bytes.length > ENCRYPTED.transferMb << 19, "the capture saw the pods' traffic");
  assert.ok(!contains(bytes, text), "encrypted, the underlay never shows the plaintext");
});
