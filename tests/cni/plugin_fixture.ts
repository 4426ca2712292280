/**
 * Shared set-up of the CNI plugin end-to-end tests (plugin_host_local_test, plugin_daemon_ipam_test,
 * plugin_weave_dropin_test): the namespace prefix, whether the reference plugins are installed, a
 * host-local data directory and what it holds, the network config.
 */
import { IS_ROOT } from "../harness/netns.ts";
import { REPO_ROOT } from "../harness/binary.ts";
import { HAS_HOST_LOCAL } from "./plugin.ts";

export const PREFIX = "wtc";
export const HAS_BRIDGE = (() => {
  try {
    return Deno.statSync("/usr/lib/cni/bridge").isFile;
  } catch {
    return false;
  }
})();
/** Every test here needs root and the reference host-local plugin. */
export const ignore = !IS_ROOT || !HAS_HOST_LOCAL;
if (IS_ROOT && !HAS_HOST_LOCAL) {
  console.error(
    "tests/cni: skipped: /usr/lib/cni/host-local missing " +
      "(apt-get install containernetworking-plugins)",
  );
}

export function dataDir(): string {
  const d = `${REPO_ROOT}/.tmp/wtc-hostlocal-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  Deno.mkdirSync(d, { recursive: true });
  return d;
}

/** The addresses host-local holds (one file per address in its data directory). */
export function leases(dir: string): string[] {
  try {
    return [...Deno.readDirSync(`${dir}/wtcnet`)].map((e) => e.name).filter((n) => /^\d/.test(n));
  } catch {
    return [];
  }
}

export function conf(extra: Record<string, unknown>): Record<string, unknown> {
  return { cniVersion: "1.0.0", name: "wtcnet", type: "weavets", ...extra };
}
