/**
 * `weavets rmpeer NAME...`: asks the local daemon to take over the IP space of dead peers
 * (DELETE /peer/{name}) and prints "N IPs taken over from NAME". Run it on one surviving peer
 * only, once the other survivors are up and connected; the daemon refuses peers it can reach.
 */
import { parseCommandLine, UsageError } from "./command.ts";
import { callDaemon, httpAddr } from "./http_client.ts";

const USAGE = `usage: weavets rmpeer [--http-addr IP:PORT] NAME...

Takes over the IP address space owned by each dead peer NAME (a peer name or nickname) on this
peer. Run it on one peer only. A peer that is still reachable is refused.
--http-addr defaults to WEAVE_HTTP_ADDR, else 127.0.0.1:6784.`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommandLine({
    args,
    options: { "http-addr": { type: "string" }, help: { type: "boolean", short: "h" } },
    allowPositionals: true,
    strict: true,
  });
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.positionals.length === 0) throw new UsageError("name at least one peer to remove");
  const addr = httpAddr(parsed.values["http-addr"], Deno.env.get("WEAVE_HTTP_ADDR"));
  let failed = 0;
  for (const name of parsed.positionals) {
    const r = await callDaemon(addr, `/peer/${encodeURIComponent(name)}`, {
      method: "DELETE",
      timeoutMs: 10_000,
    });
    if (r.status === 200) console.log(r.body.trim());
    else {
      console.error(`weavets rmpeer: ${name}: ${r.body.trim()}`);
      failed++;
    }
  }
  return failed > 0 ? 1 : 0;
}
