/** `weavets peers`: every peer the local daemon knows, with its connections (GET /status/peers). */
import { describeCause } from "../net/cause.ts";
import { parseArgs } from "node:util";
import { UsageError } from "./command.ts";
import { callDaemon, httpAddr, printAnswer } from "./http_client.ts";

const USAGE = `usage: weavets peers [--json] [--http-addr IP:PORT]

Lists every peer as name(nickname), with its connections below it:
  -> address  name(nickname)  established|pending
--http-addr defaults to WEAVE_HTTP_ADDR, else 127.0.0.1:6784.`;

export async function run(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        json: { type: "boolean" },
        "http-addr": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    throw new UsageError(describeCause(e));
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const addr = httpAddr(values["http-addr"], Deno.env.get("WEAVE_HTTP_ADDR"));
  return printAnswer(await callDaemon(addr, "/status/peers", { json: values.json ?? false }));
}
