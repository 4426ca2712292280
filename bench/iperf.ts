/**
 * One iperf3 run between two network namespaces (by name): a one-shot server in `server`, the
 * client in `client` to `ip` for `seconds`; returns iperf3's JSON report. Bounded: the client is
 * killed 15 s past its time, the server always stopped.
 */
import { sh } from "../tests/harness/sh.ts";

/** The parts of iperf3's JSON report the benchmarks read. */
export interface IperfReport {
  end: {
    sum_received: { bits_per_second: number };
    /** UDP: datagrams. */
    sum: { packets: number; lost_packets: number; seconds: number };
  };
}

export async function iperf3(
  server: string,
  client: string,
  ip: string,
  seconds: number,
  extra: string[] = [],
): Promise<IperfReport> {
  const srv = new Deno.Command("ip", {
    args: ["netns", "exec", server, "iperf3", "-s", "-1"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await new Promise((r) => setTimeout(r, 400));
  try {
    const out = await sh(
      "ip",
      "netns",
      "exec",
      client,
      "timeout",
      `${seconds + 15}`,
      "iperf3",
      "-c",
      ip,
      "-t",
      `${seconds}`,
      "-J",
      ...extra,
    );
    return JSON.parse(out);
  } finally {
    try {
      srv.kill("SIGTERM");
    } catch {
      // already exited (-1)
    }
    await srv.status;
  }
}
