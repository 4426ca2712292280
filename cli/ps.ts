/**
 * `weavets ps [ID ...]`: the addresses IPAM gave on this node, one line per container as Weave
 * Net's `weave ps` prints them: the id's first 12 characters, a MAC, then every address with its
 * prefix length. The bridge's own address (weave:expose) comes first with the bridge's MAC; a
 * pod's MAC is the one the host's neighbour table has for its address, "-" when it has none
 * (weavets does not enter pods' namespaces for this). Reads GET /ip: root only, as Weave's was.
 */
import { z } from "zod";
import { parseCommandLine, UsageError } from "./command.ts";
import { callDaemon, httpAddr } from "./http_client.ts";

const USAGE = `usage: weavets ps [ID ...] [--bridge NAME] [--http-addr ADDR]

One line per container: ID (12 characters), MAC, addresses. Run as root.`;

const EXPOSE_ID = "weave:expose";

const Allocations = z.array(z.object({ id: z.string(), ifname: z.string(), ip: z.string() }));
export type Allocation = z.infer<typeof Allocations>[number];

/** Weave's `weave ps` lines. Pure. */
export function formatPs(
  allocations: Allocation[],
  macs: { bridge: string | null; byIp: ReadonlyMap<string, string> },
  only: readonly string[] = [],
): string {
  const byId = new Map<string, string[]>();
  for (const a of allocations) {
    if (only.length && !only.some((o) => a.id === o || a.id.startsWith(o))) continue;
    byId.set(a.id, [...(byId.get(a.id) ?? []), a.ip]);
  }
  const ids = [...byId.keys()].sort((a, b) =>
    a === EXPOSE_ID ? -1 : b === EXPOSE_ID ? 1 : a < b ? -1 : 1
  );
  return ids.map((id) => {
    const ips = byId.get(id)!;
    const mac = id === EXPOSE_ID
      ? macs.bridge
      : ips.map((c) => macs.byIp.get(c.split("/")[0])).find((m) => m);
    return `${id.slice(0, 12)} ${mac ?? "-"} ${ips.join(" ")}\n`;
  }).join("");
}

/** `ip -j neigh show dev BRIDGE` → address → MAC. Pure. */
export function neighbourMacs(json: string): Map<string, string> {
  const out = new Map<string, string>();
  let list: unknown;
  try {
    list = JSON.parse(json);
  } catch {
    return out;
  }
  if (!Array.isArray(list)) return out;
  for (const n of list) {
    if (typeof n?.dst === "string" && typeof n?.lladdr === "string") out.set(n.dst, n.lladdr);
  }
  return out;
}

async function hostMacs(bridge: string) {
  let mac: string | null = null;
  try {
    mac = Deno.readTextFileSync(`/sys/class/net/${bridge}/address`).trim() || null;
  } catch {
    // no bridge on this host (yet): "-"
  }
  let byIp = new Map<string, string>();
  try {
    const out = await new Deno.Command("ip", {
      args: ["-j", "neigh", "show", "dev", bridge],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (out.success) byIp = neighbourMacs(new TextDecoder().decode(out.stdout));
  } catch {
    // no ip(8): MACs unknown
  }
  return { bridge: mac, byIp };
}

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommandLine({
    args,
    options: {
      bridge: { type: "string" },
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
  const bridge = values.bridge ?? "weave";
  if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(bridge)) {
    throw new UsageError(`--bridge: bad name "${bridge}"`);
  }
  const addr = httpAddr(values["http-addr"], Deno.env.get("WEAVE_HTTP_ADDR"));
  const answer = await callDaemon(addr, "/ip", { json: true });
  if (answer.status !== 200) {
    console.error(`weavets ps: ${answer.body.trim()}`);
    return 1;
  }
  let allocations: Allocation[];
  try {
    allocations = Allocations.parse(JSON.parse(answer.body));
  } catch {
    console.error("weavets ps: the daemon's GET /ip answer is not the expected list");
    return 1;
  }
  Deno.stdout.writeSync(
    new TextEncoder().encode(formatPs(allocations, await hostMacs(bridge), positionals)),
  );
  return 0;
}
