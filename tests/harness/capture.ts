/** Packet captures for root tests (tcpdump in a namespace as the oracle). */

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
  let seen = "";
  while (!seen.includes("listening on")) {
    const { value, done } = await errs.read();
    if (done) throw new Error(`tcpdump did not start: ${seen}`);
    seen += value;
  }
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
