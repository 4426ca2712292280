/**
 * `weavets policy check SRC DST PORT[/PROTO]`: would a new connection from SRC to DST pass the
 * NetworkPolicies, and which policies decide it? Asked of the local daemon (GET /npc/check),
 * which answers from the state it compiled and loaded into the kernel — the same code that
 * enforces, not a second opinion. Exit status: 0 allowed, 1 denied, 2 could not check.
 */
import { parseCommandLine, UsageError } from "./command.ts";
import { callDaemon, DaemonUnreachable, httpAddr } from "./http_client.ts";

const USAGE = `usage: weavets policy check SRC DST PORT[/PROTO] [--json] [--http-addr IP:PORT]

SRC and DST: a pod as NAMESPACE/NAME, or an address. PROTO: tcp (default), udp, sctp; or
"icmp" alone for traffic without ports. Exit status: 0 allowed, 1 denied, 2 could not check.
Each direction is answered for the node that enforces it (the pod's node), from this daemon's
view of the cluster. --http-addr defaults to WEAVE_HTTP_ADDR, else 127.0.0.1:6784.`;

interface Direction {
  outcome: "pass" | "allow" | "deny";
  node: string;
  policies: string[];
  allowedBy: Array<{ policy: string; rule: number }>;
  pending: boolean;
}

interface Answer {
  src: { address: string; pod: string | null };
  dst: { address: string; pod: string | null };
  protocol: string;
  port: number;
  allowed: boolean;
  unbound: boolean;
  egress: Direction;
  ingress: Direction;
}

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
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  const [verb, src, dst, portArg, ...rest] = parsed.positionals;
  if (verb !== "check") throw new UsageError(`unknown subcommand "${verb ?? ""}": only "check"`);
  if (!src || !dst || !portArg || rest.length > 0) {
    throw new UsageError("give SRC DST PORT[/PROTO], e.g. default/web db/postgres 5432/tcp");
  }
  const m = /^(?:(\d{1,5})(?:\/(tcp|udp|sctp))?|(icmp))$/i.exec(portArg);
  if (!m || Number(m[1] ?? 0) > 65535) {
    throw new UsageError(`"${portArg}" is not PORT[/PROTO] (e.g. 80, 53/udp, icmp)`);
  }
  const protocol = (m[3] ?? m[2] ?? "tcp").toUpperCase();
  const q = new URLSearchParams({ src, dst, port: m[1] ?? "0", protocol });
  const addr = httpAddr(parsed.values["http-addr"], Deno.env.get("WEAVE_HTTP_ADDR"));
  let a;
  try {
    a = await callDaemon(addr, `/npc/check?${q}`, { json: true, timeoutMs: 15_000 });
  } catch (e) {
    if (!(e instanceof DaemonUnreachable)) throw e;
    console.error(`weavets policy: ${e.message}`);
    return 2;
  }
  if (a.status === 404) {
    console.error(
      "weavets policy: the daemon does not enforce NetworkPolicies (no --kube, or --no-npc)",
    );
    return 2;
  }
  if (a.status !== 200) {
    console.error(`weavets policy: ${a.body.trim()}`);
    return 2;
  }
  const answer = JSON.parse(a.body) as Answer;
  if (parsed.values.json) console.log(JSON.stringify(answer, null, 2));
  else console.log(formatAnswer(answer));
  return answer.allowed ? 0 : 1;
}

export function formatAnswer(a: Answer): string {
  const end = (e: Answer["src"]) => (e.pod ? `${e.pod} (${e.address})` : e.address);
  const what = a.protocol === "ICMP" ? "ICMP" : `${a.protocol}/${a.port}`;
  const out = [`${end(a.src)} -> ${end(a.dst)} ${what}: ${a.allowed ? "allowed" : "denied"}`];
  if (a.unbound) {
    out.push("  an address of the node's pod ranges that no pod holds (yet): closed both ways");
  }
  for (const dir of ["egress", "ingress"] as const) {
    const d = a[dir];
    const pod = dir === "egress" ? a.src.pod : a.dst.pod;
    const where = d.node ? ` (enforced on ${d.node})` : "";
    let line: string;
    if (d.outcome === "pass") {
      line = pod ? `no policy selects ${pod} for ${dir}` : "not a pod of the cluster: not policed";
    } else if (d.pending) {
      line = `closed: ${pod}'s labels are not known yet, and its namespace has ${dir} policies`;
    } else if (d.outcome === "allow") {
      const by = d.allowedBy.map((r) => (r.rule < 0 ? r.policy : `${r.policy} rule ${r.rule}`));
      line = `allowed by ${by.join(", ")}`;
    } else {
      line = `denied: selected by ${d.policies.join(", ")}, and no rule of theirs allows it`;
    }
    out.push(`  ${dir.padEnd(7)}${where}: ${line}`);
  }
  return out.join("\n");
}
