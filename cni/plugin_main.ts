/**
 * The CNI plugin's own entry point, for install.sh's launcher: it bundles this file into one
 * JavaScript file (lib/weavets/plugin.js) that the launcher runs with --no-config --no-lock when
 * a runtime execs the plugin (CNI_COMMAND set, no arguments — mod.ts's plugin branch, the same
 * code). Measured per exec at load 7 (2 CPUs, CPU time user+sys, medians of 40): an empty Deno
 * program 18.7 ms, `deno run --config deno.json mod.ts` 35.0 ms (the config's npm resolver ~6 ms,
 * the TypeScript module graph ~8 ms), the bundle 20.7 ms. Everything the fallback needs is in the
 * bundle too (dynamic imports inlined), parsed only when it runs.
 */
if (import.meta.main) {
  const { runPlugin } = await import("./client.ts");
  Deno.exit(await runPlugin());
}
