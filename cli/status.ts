/**
 * `weavets status [SECTION]`: the daemon's summary (GET /status), or one section: `connections`,
 * `peers`, or one a component contributes (`ipam` → GET /status/ipam, `npc` → GET /status/npc).
 */
import { parseCommandLine, UsageError } from "./command.ts";
import { callDaemon, httpAddr, printAnswer } from "./http_client.ts";

const USAGE = `usage: weavets status [connections|peers|ipam|npc] [--json] [--http-addr IP:PORT]

Without a section: the summary (name, encryption, peers, connections, targets, and a section
per enabled component). --http-addr defaults to WEAVE_HTTP_ADDR, else 127.0.0.1:6784.`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommandLine({
    args,
    options: {
      json: { type: "boolean" },
      "http-addr": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: true,
  });
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length > 1) {
    throw new UsageError(`one section at most, got ${positionals.join(" ")}`);
  }
  const section = positionals[0];
  if (section !== undefined && !/^[a-z][a-z0-9-]*$/.test(section)) {
    throw new UsageError(`unknown section "${section}"`);
  }
  const addr = httpAddr(values["http-addr"], Deno.env.get("WEAVE_HTTP_ADDR"));
  const a = await callDaemon(addr, section ? `/status/${section}` : "/status", {
    json: values.json ?? false,
  });
  if (section && a.status === 404) {
    console.error(
      section === "ipam"
        ? "weavets status ipam: IPAM not enabled in this daemon"
        : section === "npc"
        ? "weavets status npc: this daemon does not enforce NetworkPolicies (no --kube, or --no-npc)"
        : `weavets status: the daemon has no "${section}" section`,
    );
    return 1;
  }
  // The summary answers 503 while not ready; it is still the status to show.
  return printAnswer(a, section ? [200] : [200, 503]);
}
