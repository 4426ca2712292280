/**
 * `weavets connect [--replace] PEER...` and `weavets forget PEER...`, as Weave Net's `weave
 * connect` / `weave forget`: add peers to dial (--replace: only these), or stop dialling them
 * (connections stay up). POST /connect and /forget on the daemon's API: root only.
 */
import { describeCause } from "../net/cause.ts";
import { parseArgs } from "node:util";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";
import { callDaemon, httpAddr } from "./http_client.ts";

function command(name: "connect" | "forget"): Command {
  const usage = name === "connect"
    ? `usage: weavets connect [--replace] PEER[:PORT]... [--http-addr ADDR]

Dial these peers too, as if given on the daemon's command line; --replace makes them the only
ones. Run as root.`
    : `usage: weavets forget PEER[:PORT]... [--http-addr ADDR]

Stop dialling these peers (an established connection stays). Run as root.`;
  return {
    async run(args: string[]): Promise<number> {
      let parsed;
      try {
        parsed = parseArgs({
          args,
          options: {
            ...(name === "connect" ? { replace: { type: "boolean" as const } } : {}),
            "http-addr": { type: "string" },
            help: { type: "boolean", short: "h" },
          },
          allowPositionals: true,
          strict: true,
        });
      } catch (e) {
        throw new UsageError(describeCause(e));
      }
      const { values, positionals } = parsed;
      if (values.help) {
        console.log(usage);
        return 0;
      }
      if (positionals.length === 0) throw new UsageError("give at least one peer");
      const addr = httpAddr(values["http-addr"], Deno.env.get("WEAVE_HTTP_ADDR"));
      const replace = (values as { replace?: boolean }).replace === true;
      const a = await callDaemon(addr, `/${name}`, {
        method: "POST",
        body: { peer: positionals, ...(replace ? { replace: true } : {}) },
      });
      if (a.status === 200) return 0;
      console.error(`weavets ${name}: ${a.body.trim()}`);
      return 1;
    },
  };
}

export const connect: Command = command("connect");
export const forget: Command = command("forget");
