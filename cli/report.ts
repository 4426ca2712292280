/**
 * `weavets report [-f TEMPLATE]`: the daemon's full report as JSON (GET /report), or formatted
 * by a Go template as Weave Net's `weave report -f` (GET /report?format=, evaluated by the
 * daemon: a subset of Go's text/template, see net/api/go_template.ts). Field names match the
 * JSON keys case-insensitively, so `{{.Router.Name}}` works as in Weave.
 */
import { parseCommandLine } from "./command.ts";
import { callDaemon, httpAddr, printAnswer } from "./http_client.ts";

const USAGE = `usage: weavets report [-f TEMPLATE] [--http-addr ADDR]

Without -f: the report as JSON. With -f: a Go template over it, as Weave Net's 'weave report -f'
(e.g. -f '{{.Router.Name}}' or -f '{{range .Router.Connections}}{{.Address}} {{.State}}
{{end}}'). Supported: fields, if/else/range/with, len, json, printf, index, eq, not, and, or.
--http-addr defaults to WEAVE_HTTP_ADDR, else 127.0.0.1:6784.`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommandLine({
    args,
    options: {
      format: { type: "string", short: "f" },
      "http-addr": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  const { values } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const addr = httpAddr(values["http-addr"], Deno.env.get("WEAVE_HTTP_ADDR"));
  const path = values.format !== undefined
    ? `/report?format=${encodeURIComponent(values.format)}`
    : "/report";
  return printAnswer(await callDaemon(addr, path, { json: values.format === undefined }));
}
