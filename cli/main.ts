/**
 * Picks the subcommand. Modules are imported lazily so that the CNI plugin, which runs once per
 * pod event, never pays for loading the daemon.
 */
import type { Command } from "./command.ts";
import { WeavetsError } from "../net/errors.ts";
import { exitCodeFor, UsageError } from "./command.ts";

interface Entry {
  summary: string;
  load: () => Promise<Command>;
}

const COMMANDS: Record<string, Entry> = {
  daemon: { summary: "run the peer on this node", load: () => import("./daemon.ts") },
  cni: {
    summary: "run as the CNI plugin (also chosen when CNI_COMMAND is set)",
    load: () => import("./cni.ts"),
  },
  peers: { summary: "list peers and their connections", load: () => import("./peers.ts") },
  status: {
    summary: "show status [connections|peers|ipam|npc]",
    load: () => import("./status.ts"),
  },
  rmpeer: { summary: "take over the IP space of dead peers", load: () => import("./rmpeer.ts") },
  reset: {
    summary: "remove weavets' state from this node (--weave: Weave Net's leftovers)",
    load: () => import("./reset.ts"),
  },
  report: {
    summary: "the full report as JSON, or -f TEMPLATE (a Go template, as weave report -f)",
    load: () => import("./report.ts"),
  },
  connect: {
    summary: "dial more peers (--replace: only these), as weave connect",
    load: async () => (await import("./connect.ts")).connect,
  },
  forget: {
    summary: "stop dialling peers, as weave forget",
    load: async () => (await import("./connect.ts")).forget,
  },
  ps: { summary: "containers' addresses on this node, as weave ps", load: () => import("./ps.ts") },
  policy: {
    summary: "check SRC DST PORT[/PROTO]: would NetworkPolicy let it through, and why",
    load: () => import("./policy.ts"),
  },
  demo: {
    summary: "run a whole cluster in network namespaces on this machine",
    load: () => import("./demo.ts"),
  },
  version: { summary: "print the version", load: () => import("./version.ts") },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  const lines = Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(width)}  ${v.summary}`);
  return [
    "usage: weavets <command> [flags]",
    "",
    "commands:",
    ...lines,
    `  ${"help".padEnd(width)}  show this help`,
    "",
    "Run 'weavets <command> --help' for a command's flags.",
  ].join("\n");
}

export async function main(args: string[], env: { cniCommand?: string }): Promise<number> {
  // Runtimes exec the plugin by its type name with no arguments: CNI_COMMAND selects CNI mode.
  if (args.length === 0 && env.cniCommand) return await run("cni", []);
  const [name, ...rest] = args;
  if (name === undefined) {
    console.error(usage());
    return 2;
  }
  if (name === "help" || name === "--help" || name === "-h") {
    console.log(usage());
    return 0;
  }
  if (name === "--version") return await run("version", []);
  if (!(name in COMMANDS)) {
    console.error(`weavets: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return await run(name, rest);
}

async function run(name: string, args: string[]): Promise<number> {
  const command = await COMMANDS[name].load();
  try {
    return await command.run(args);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`weavets ${name}: ${e.message}\nRun 'weavets ${name} --help' for usage.`);
      return exitCodeFor(e.kind);
    }
    // Any other failure with a kind (the daemon unreachable, a bad file, a refused request): one
    // line on stderr and its kind's exit code. A bug (no kind) keeps its stack.
    if (e instanceof WeavetsError) {
      console.error(`weavets ${name}: ${e.message}`);
      return exitCodeFor(e.kind);
    }
    throw e;
  }
}
