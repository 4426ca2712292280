/**
 * What the underlay carries (tcpdump on the underlay bridge), for the data-plane end-to-end tests:
 * a unique marker sent by a pod, and whether a capture shows it.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Cluster, Pod } from "../../cli/demo/cluster.ts";
import { spawnIn } from "../../cli/demo/exec.ts";
import { netnsPath } from "../../net/linux/mod.ts";
import { bound, dec, lines, tool } from "./pod_traffic.ts";

/** tcpdump on the underlay bridge (UDP only), bounded in time; returns what it captured. */
export function capture(c: Cluster, file: string, maxS: number) {
  const cap = spawnIn(netnsPath(c.underlay), "timeout", [
    `${maxS}`,
    "tcpdump",
    "-i",
    "br0",
    // Each packet to the file as it comes: without these, packets still in the kernel's ring
    // block when tcpdump is stopped are lost.
    "--immediate-mode",
    "-U",
    "-n",
    "-s",
    "0",
    "-w",
    file,
    "udp",
  ], { stdout: "null" });
  const err = lines(cap.stderr);
  const stop = async () => {
    try {
      cap.kill("SIGTERM");
    } catch {
      // the timeout ended it, or stopped already
    }
    await cap.status;
  };
  return {
    /** Resolves once tcpdump listens. */
    async ready(): Promise<void> {
      assert.match(await err.first, /listening on br0/, "tcpdump captures on the underlay");
    },
    /** Stops the capture (a last moment for packets in flight) and returns the file. */
    async finish(): Promise<Uint8Array> {
      await new Promise((r) => setTimeout(r, 300));
      await stop();
      return await Deno.readFile(file);
    },
    /** Stops the capture, also when it never started or stopped already. */
    stop,
  };
}

/** True when `needle` occurs in `hay` (bytes). */
export function contains(hay: Uint8Array, needle: string): boolean {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength).indexOf(needle) >= 0;
}

/** A marker unique to this run, sent by a pod over TCP (repeated) so a capture can look for it. */
export async function sendMarker(from: Pod, to: Pod, marker: string, port: string): Promise<void> {
  const sink = tool(to, "sink", port);
  bound(sink, 20_000);
  const out = lines(sink.stdout);
  assert.equal(await out.first, "listening");
  const t = await tool(from, "text", to.ip!, port, marker, "200").output();
  assert.ok(t.success, dec.decode(t.stderr));
  await sink.status;
  assert.match(await out.all, new RegExp(`\\n${marker.length * 200} `), "the marker arrived");
}

/** What the underlay carried while `fn` ran (tcpdump, at most `maxS` seconds). */
export async function captured(
  c: Cluster,
  maxS: number,
  fn: () => Promise<unknown>,
): Promise<Uint8Array> {
  const pcap = await Deno.makeTempFile({ suffix: ".pcap" });
  const cap = capture(c, pcap, maxS);
  try {
    await cap.ready();
    await fn();
    return await cap.finish();
  } finally {
    await cap.stop();
    await Deno.remove(pcap);
  }
}

export const marker = () => `PLAINTEXT-${crypto.randomUUID().slice(0, 18)}`;
