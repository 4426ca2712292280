/**
 * `weavets daemon`: runs this node's peer until SIGTERM or SIGINT. Flags and environment are
 * parsed by net/daemon/config.ts; features plug in as components (see `components` below).
 */
import {
  ConfigError,
  DAEMON_USAGE,
  type DaemonConfig,
  parseDaemonConfig,
} from "../net/daemon/config.ts";
import type { DaemonComponent } from "../net/daemon/component.ts";
import { startDaemon } from "../net/daemon/daemon.ts";
import { createDataplane } from "../net/dataplane/dataplane.ts";
import { IpamService } from "../net/ipam/service.ts";
import { log as rootLog } from "../net/log.ts";
import { UsageError } from "./command.ts";

/** The features this build runs inside the daemon, in start order. */
export function components(config: DaemonConfig): DaemonComponent[] {
  const ipam = new IpamService({
    range: config.ipallocRange,
    init: config.ipallocInit,
    // Weave's default quorum: the initial peers plus this one.
    expectedPeers: config.peers.length + 1,
    datadir: config.datadir,
    log: rootLog,
  });
  const dataplane = createDataplane({
    bridge: config.bridge,
    bridgeCidr: config.bridgeCidr ?? undefined,
    podCidr: config.ipallocRange,
    fastdp: config.fastdp,
    fastdpPort: config.fastdpPort,
    mtu: config.mtu ?? undefined,
    password: config.password === null ? undefined : new TextEncoder().encode(config.password),
    underlayAddr: config.host !== "0.0.0.0" ? config.host : undefined,
  });
  return [ipam, dataplane];
}

function readFirst(paths: string[]): string | null {
  for (const p of paths) {
    try {
      const t = Deno.readTextFileSync(p).trim();
      if (t) return t;
    } catch {
      // try the next one
    }
  }
  return null;
}

export async function run(args: string[]): Promise<number> {
  let config: DaemonConfig | null;
  try {
    config = parseDaemonConfig(args, Deno.env.toObject(), {
      machineId: () => readFirst(["/etc/machine-id", "/var/lib/dbus/machine-id"]),
      hostname: () => Deno.hostname(),
      readFile: (p) => Deno.readTextFileSync(p),
    });
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
  if (config === null) {
    console.log(DAEMON_USAGE);
    return 0;
  }
  const log = rootLog.with({ component: "daemon" });
  let daemon;
  try {
    daemon = await startDaemon(config, { log: rootLog, components: components(config) });
  } catch (e) {
    log.error("cannot start", { error: (e as Error).message });
    return 1;
  }
  log.info("started", {
    name: daemon.mesh.self,
    nickname: config.nickname,
    uid: daemon.mesh.uid,
    peers: config.peers,
  });
  const signal = await new Promise<string>((resolve) => {
    for (const s of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(s, () => resolve(s));
  });
  log.info("shutting down", { signal });
  await daemon.stop();
  log.info("stopped");
  return 0;
}
