/**
 * weavets: a Kubernetes pod network in the spirit of Weave Net.
 * Entry point of the single binary: `weavets <command>`, or the CNI plugin when CNI_COMMAND is set.
 */
import { main } from "./cli/main.ts";

if (import.meta.main) {
  const code = await main(Deno.args, { cniCommand: Deno.env.get("CNI_COMMAND") });
  Deno.exit(code);
}
