/** A cluster's names: every namespace it makes starts with its prefix (cluster.ts). */
import { NETNS_RUN_DIR } from "../../net/linux/mod.ts";

export function checkPrefix(prefix: string) {
  if (!/^[a-z][a-z0-9-]{0,11}$/.test(prefix)) {
    throw new Error(`cluster prefix "${prefix}" must be 1-12 characters of [a-z0-9-]`);
  }
}

/** Every namespace name under /run/netns that belongs to a cluster with this prefix. */
export function namespacesWithPrefix(prefix: string): string[] {
  checkPrefix(prefix);
  try {
    return [...Deno.readDirSync(NETNS_RUN_DIR)]
      .map((e) => e.name)
      .filter((n) => n === `${prefix}-u` || n.startsWith(`${prefix}-n`));
  } catch {
    return [];
  }
}
