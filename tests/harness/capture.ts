/** Packet captures for root tests (tcpdump in a namespace as the oracle). */
import { readUntil } from "./sh.ts";

/** Whether tcpdump is installed (tests that need it say so and skip that check). */
export const HAS_TCPDUMP = new Deno.Command("sh", {
  args: ["-c", "command -v tcpdump"],
  stdout: "null",
}).outputSync().success;

/**
 * Starts tcpdump on `dev` in the namespace named `netns`; once it listens, returns a promise of
 * the first ARP packet it prints (empty after 5 s without one).
 */
export async function captureOneArp(
  netns: string,
  dev: string,
): Promise<{ done: Promise<string> }> {
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", netns, "tcpdump", "-i", dev, "-n", "-l", "-c", "1", "arp"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const errs = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  await readUntil(errs, "listening on", "tcpdump");
  errs.releaseLock();
  child.stderr.cancel().catch(() => {});
  const timer = setTimeout(() => child.kill("SIGTERM"), 5000);
  // Wrapped: an async function returning a bare promise would make the caller wait for it.
  return {
    done: (async () => {
      const out = await new Response(child.stdout).text();
      await child.status;
      clearTimeout(timer);
      return out;
    })(),
  };
}

/**
 * Captures the UDP packets on `dev` in namespace `netns` (whole packets, with a 32 MiB buffer: a
 * busy 2-core machine drops packets with tcpdump's default 2 MiB) while `traffic` runs, which
 * starts only once tcpdump listens (a fixed wait missed the start on a busy machine). Resolves to
 * the capture file's bytes as latin1 text, for searching markers in; fails when the capture holds
 * fewer than `atLeast` bytes (a capture that saw nothing proves no "never in plaintext").
 */
export async function captureUdp(
  netns: string,
  dev: string,
  atLeast: number,
  traffic: () => Promise<void>,
): Promise<string> {
  const pcap = await Deno.makeTempFile({ suffix: ".pcap" });
  try {
    const cap = new Deno.Command("ip", {
      args: ["netns", "exec", netns, "tcpdump", "-i", dev, "-U", "--immediate-mode", "-B"]
        .concat(["32768", "-s", "0", "-w", pcap, "udp"]),
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const err = cap.stderr.pipeThrough(new TextDecoderStream()).getReader();
    await readUntil(err, "listening on", "tcpdump").catch(async (e) => {
      await cap.status;
      throw e;
    });
    try {
      await traffic();
    } finally {
      // Packets reach tcpdump in blocks up to 1 s late unless in immediate mode: both, to be sure.
      await new Promise((r) => setTimeout(r, 1000));
      cap.kill("SIGTERM");
      await cap.status;
      await err.cancel();
    }
    const bytes = await Deno.readFile(pcap);
    if (bytes.length < atLeast) {
      throw new Error(`the capture did not see the traffic (${bytes.length} bytes)`);
    }
    return new TextDecoder("latin1").decode(bytes);
  } finally {
    await Deno.remove(pcap).catch(() => {});
  }
}
