/** Root-only directories for what the plugin and daemon share on the node. No imports. */

/**
 * Creates `dir` 0700, or makes an existing one 0700 (e.g. a hostPath the kubelet created 0755):
 * what is inside lets whoever reaches it stall or steer pod set-up.
 */
export function privateDir(dir: string): void {
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if ((Deno.statSync(dir).mode! & 0o777) !== 0o700) Deno.chmodSync(dir, 0o700);
}
