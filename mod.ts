/**
 * weavets: a Kubernetes pod network in the spirit of Weave Net.
 * Entry point of the single binary: `weavets <command>`, or the CNI plugin when CNI_COMMAND is set.
 */
if (import.meta.main) {
  const cniCommand = Deno.env.get("CNI_COMMAND");
  // A runtime execs the plugin by its type name with no arguments, once per pod event: its path
  // (cni/client.ts) loads nothing it does not need, not even the command table.
  if (cniCommand && Deno.args.length === 0) {
    Deno.exit(await (await import("./cni/client.ts")).runPlugin());
  }
  const { main } = await import("./cli/main.ts");
  Deno.exit(await main(Deno.args, { cniCommand }));
}
