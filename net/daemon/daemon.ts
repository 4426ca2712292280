/**
 * The daemon: the mesh, the components plugged into it, the HTTP API and the metrics listener.
 * `startDaemon` returns once everything listens; `stop` undoes it in reverse order.
 */
import { describeCause } from "../cause.ts";
import { cpuUsage } from "node:process";
import { VERSION } from "../../version.ts";
import { Registry } from "../api/metrics.ts";
import { renderTemplate, TemplateError } from "../api/go_template.ts";
import { meshRoutes } from "../api/mesh_routes.ts";
import {
  type ApiRoute,
  errorResponse,
  jsonResponse,
  routeAccess,
  textResponse,
  wantsJson,
} from "../api/route.ts";
import { type ApiServer, startApiServer } from "../api/server.ts";
import { log as processLog, type Logger } from "../log.ts";
import type { MeshView } from "../mesh/gossip_channel.ts";
import { loadOrCreateSigningKey, persistPeerKeys } from "../mesh/key_files.ts";
import { registerMeshMetrics } from "../mesh/metrics.ts";
import { randomPeerName } from "../mesh/peer_name.ts";
import { Mesh, type MeshConfig, type MeshTiming } from "../mesh/router.ts";
import {
  formatConnections,
  formatPeers,
  formatSections,
  routerSection,
  type StatusSection,
} from "../mesh/status_text.ts";
import { withDataPath } from "./connection_view.ts";
import type { DaemonComponent } from "./component.ts";
import type { CoreConfig } from "./config.ts";

export interface DaemonOptions {
  components?: DaemonComponent[];
  /** Default: the process logger. */
  log?: Logger;
  /** Faster timers for tests. */
  timing?: Partial<MeshTiming>;
  /** Mesh settings that are not flags (e.g. with --kube, discover only node addresses). */
  mesh?: Pick<MeshConfig, "discoverOnlyTargetHosts" | "discovery" | "limits">;
}

export interface Daemon {
  readonly mesh: Mesh;
  /** The read side components get. */
  readonly view: MeshView;
  /** Where the HTTP API listens: TCP, or a Unix socket (an absolute --http-addr). */
  readonly httpAddr: Deno.NetAddr | Deno.UnixAddr;
  /** The HTTP API answered in this process, as to root (ApiServer.dispatch). */
  readonly api: (req: Request) => Promise<Response>;
  readonly metricsAddr: Deno.NetAddr | Deno.UnixAddr | null;
  /** Weave's --status-addr listener (read-only status and metrics), when configured. */
  readonly statusAddr: Deno.NetAddr | Deno.UnixAddr | null;
  readonly registry: Registry;
  /** Null when ready, else why not. */
  ready(): string | null;
  stop(): Promise<void>;
}

/** The peer name: configured or from the machine id, else one kept in the datadir. */
function resolveName(config: CoreConfig, log: Logger): string {
  if (config.name) return config.name;
  const file = `${config.datadir}/peer-name`;
  try {
    const saved = Deno.readTextFileSync(file).trim();
    if (/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(saved)) return saved;
  } catch {
    // not there yet
  }
  const name = randomPeerName();
  Deno.writeTextFileSync(file, name + "\n");
  log.info("no machine id: generated a peer name", { name, file });
  return name;
}

export async function startDaemon(
  config: CoreConfig,
  opts: DaemonOptions = {},
): Promise<Daemon> {
  const rootLog = opts.log ?? processLog;
  const log = rootLog.with({ component: "daemon" });
  const components = opts.components ?? [];
  const names = new Set<string>();
  for (const c of components) {
    if (names.has(c.name)) throw new Error(`daemon component "${c.name}" given twice`);
    names.add(c.name);
  }
  // 0700 from the start: the IPAM state and the peer name are nobody else's to read.
  Deno.mkdirSync(config.datadir, { recursive: true, mode: 0o700 });
  const mesh = new Mesh({
    signingKey: loadOrCreateSigningKey(config.datadir, log),
    name: resolveName(config, log),
    nickname: config.nickname,
    host: config.host,
    port: config.port,
    password: config.password,
    clusterSecret: config.clusterSecret,
    connLimit: config.connLimit,
    trustedSubnets: config.trustedSubnets ?? [],
    peers: config.peers,
    timing: opts.timing,
    log: rootLog.with({ component: "mesh" }),
    ...opts.mesh,
  });
  const peerKeys = persistPeerKeys(mesh.keys, config.datadir, log);

  const registry = new Registry();
  const refresh = [registerMeshMetrics(registry, mesh), registerProcessMetrics(registry)];
  for (const c of components) c.metrics?.(registry);

  const started: DaemonComponent[] = [];
  const servers: ApiServer[] = [];
  let meshStarted = false;
  const stop = async () => {
    for (const s of servers.splice(0).reverse()) await s.shutdown().catch(() => {});
    for (const c of started.splice(0).reverse()) {
      try {
        await c.stop?.();
      } catch (e) {
        log.error("component failed to stop", { name: c.name, error: describeCause(e) });
      }
    }
    if (meshStarted) await mesh.stop();
    peerKeys.stop();
  };

  const ready = (): string | null => {
    for (const c of components) {
      const why = c.ready?.();
      if (why) return `${c.name}: ${why}`;
    }
    return null;
  };

  try {
    for (const c of components) {
      await c.start?.(mesh);
      started.push(c);
    }
    mesh.start();
    meshStarted = true;
    const routes = [
      ...statusRoutes(mesh, components, ready, config.trustedSubnets ?? []),
      ...meshRoutes(mesh),
      metricsRoute(registry, refresh),
      ...components.flatMap((c) => c.routes?.() ?? []),
    ];
    servers.push(
      startApiServer({ addr: config.httpAddr, routes, log: rootLog.with({ component: "api" }) }),
    );
    log.info("HTTP API listening", { address: addrText(servers[0].addr) });
    let metricsAddr: Deno.NetAddr | Deno.UnixAddr | null = null;
    if (config.metricsAddr !== null) {
      const m = startApiServer({
        addr: config.metricsAddr,
        routes: [metricsRoute(registry, refresh)],
        log: rootLog.with({ component: "metrics" }),
      });
      servers.push(m);
      metricsAddr = m.addr;
      log.info("metrics listening", { address: addrText(m.addr) });
    }
    let statusAddr: Deno.NetAddr | Deno.UnixAddr | null = null;
    if (config.statusAddr) {
      // Weave's --status-addr: status and metrics only, never a route that changes state or
      // lists workloads (those stay on the API address, root only).
      const s = startApiServer({
        addr: config.statusAddr,
        routes: routes.filter((r) => r.method === "GET" && routeAccess(r) === "public"),
        log: rootLog.with({ component: "status" }),
      });
      servers.push(s);
      statusAddr = s.addr;
      log.info("status listening", { address: addrText(s.addr) });
    }
    return {
      mesh,
      view: mesh,
      httpAddr: servers[0].addr,
      api: servers[0].dispatch,
      metricsAddr,
      statusAddr,
      registry,
      ready,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

function addrText(a: Deno.NetAddr | Deno.UnixAddr): string {
  return "path" in a ? a.path : `${a.hostname}:${a.port}`;
}

function metricsRoute(registry: Registry, refresh: Array<() => void>): ApiRoute {
  return {
    method: "GET",
    path: "/metrics",
    handle: () => {
      for (const r of refresh) r();
      return new Response(registry.render(), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    },
  };
}

function statusRoutes(
  mesh: Mesh,
  components: DaemonComponent[],
  ready: () => string | null,
  trustedSubnets: string[],
): ApiRoute[] {
  const dataPath = (peer?: string) => {
    if (!peer) return "-";
    for (const c of components) {
      const p = c.dataPath?.(peer);
      if (p) return p;
    }
    return "control";
  };
  const sections = (): StatusSection[] => [
    withTrusted(routerSection(mesh.summary()), trustedSubnets),
    ...components.flatMap((c) => (c.status ? [c.status()] : [])),
  ];
  return [
    {
      method: "GET",
      path: "/status",
      handle: (req) => {
        const why = ready();
        const code = why === null ? 200 : 503;
        if (wantsJson(req)) {
          return jsonResponse({
            ready: why === null,
            reason: why,
            version: VERSION,
            sections: sections(),
          }, code);
        }
        const head: Array<[string, string]> = [["Version", VERSION], [
          "Ready",
          why === null ? "yes" : `no (${why})`,
        ]];
        return textResponse(formatSections(sections(), head), code);
      },
    },
    {
      method: "GET",
      path: "/status/peers",
      handle: (req) => {
        const peers = mesh.status().peers;
        return wantsJson(req) ? jsonResponse(peers) : textResponse(formatPeers(peers));
      },
    },
    {
      method: "GET",
      path: "/status/connections",
      handle: (req) => {
        const cs = mesh.status().connections.map((c) => {
          const peer = c.state === "established" ? c.name : undefined;
          const reason = peer
            ? components.map((x) => x.dataPathReason?.(peer)).find((r) => r)
            : undefined;
          return withDataPath(c, dataPath(peer), reason);
        });
        return wantsJson(req) ? jsonResponse(cs) : textResponse(formatConnections(cs));
      },
    },
    {
      method: "GET",
      path: "/report",
      handle: (req) => {
        const why = ready();
        const report: Record<string, unknown> = {
          ready: why === null,
          reason: why,
          version: VERSION,
          router: { ...mesh.status(), trustedSubnets },
        };
        for (const c of components) if (c.report) report[c.name] = c.report();
        // Weave's `weave report -f TEMPLATE`: a Go template (a subset: net/api/go_template.ts).
        const format = new URL(req.url).searchParams.getAll("format");
        if (format.length > 1) return errorResponse(400, "error: must supply one format parameter");
        if (format.length === 1) {
          try {
            return new Response(renderTemplate(format[0], report), {
              headers: { "content-type": "text/plain; charset=utf-8" },
            });
          } catch (e) {
            if (e instanceof TemplateError) return errorResponse(400, `template: ${e.message}`);
            throw e;
          }
        }
        return jsonResponse(report);
      },
    },
  ];
}

function registerProcessMetrics(registry: Registry): () => void {
  registry.gaugeFn("process_resident_memory_bytes", "Resident memory size in bytes.", () => [
    { value: Deno.memoryUsage().rss },
  ]);
  registry.gaugeFn("process_heap_bytes", "JavaScript heap in use, in bytes.", () => [
    { value: Deno.memoryUsage().heapUsed },
  ]);
  const start = Date.now() / 1000;
  registry.gaugeFn("process_start_time_seconds", "Start time since the epoch, in seconds.", () => [
    { value: Math.round(start) },
  ]);
  const cpu = registry.counter(
    "process_cpu_seconds_total",
    "User and system CPU time, in seconds.",
  );
  return () => {
    const u = cpuUsage();
    cpu.set((u.user + u.system) / 1e6);
  };
}

/** Weave's "TrustedSubnets" line (its printList: "none" or the list). */
function withTrusted(section: StatusSection, subnets: string[]): StatusSection {
  const value = subnets.length ? subnets.join(", ") : "none";
  return { ...section, fields: [...section.fields, ["TrustedSubnets", value]] };
}
