/**
 * The daemon side of the plugin (a daemon component): serves pod events on this node's CNI socket
 * (cni/socket.ts) by running the same code the plugin would (cni/execute.ts), with every module,
 * the FFI library and the IPAM client already loaded. The plugin process then only starts,
 * forwards and prints. Events run concurrently; what must be serialised still takes the node lock.
 *
 * The daemon never fails a pod the plugin could set up itself: an ADD or CHECK whose network
 * namespace it cannot enter (its mount namespace does not see the runtime's mounts), and any
 * failure the commands did not classify, are answered "fallback" and the plugin does the work.
 * The plugin then tells it what it did (cni/attached.ts), so the hooks still learn of the pod.
 * It also replays the releases DEL kept while it was away (cni/replay.ts).
 *
 * Namespace work is safe here because net/linux enters namespaces only inside synchronous calls
 * (the per-thread rule in net/linux/netns.ts), so nothing else on the event loop runs meanwhile.
 */
import { z } from "zod";
import type { Registry } from "../net/api/metrics.ts";
import type { Metric } from "../net/api/metrics.ts";
import type { DaemonComponent } from "../net/daemon/component.ts";
import type { Logger } from "../net/log.ts";
import {
  checkTold,
  type PodHooks,
  podOf,
  resultAddresses,
  tellHooks,
  type Told,
} from "./attached.ts";
import { CniError, decodeJson, describeCause, ErrorCode } from "./errors.ts";
import { executeCni } from "./execute.ts";
import { releaseAllocation } from "./ipam/daemon.ts";
import { netnsProblem } from "./netns.ts";
import { findLink } from "../net/linux/link.ts";
import { LogLimiter } from "../net/mesh/log_limit.ts";
import { bothClocks, type PhaseClock } from "./phases.ts";
import { pendingDir } from "./pending.ts";
import { privateDir } from "./private_dir.ts";
import { createReplayer, REPLAY_EVERY_MS, type Replayer } from "./replay.ts";
import { formatIssues } from "./result.ts";
import { CNI_SOCKET_DIR, type CniReply, cniSocketPath, MAX_REQUEST_BYTES } from "./socket.ts";
import { LATEST_VERSION } from "./spec.ts";

const RequestSchema = z.object({
  env: z.record(z.string(), z.string()),
  stdin: z.string(),
  execName: z.optional(z.string()),
  done: z.optional(z.record(z.string(), z.unknown())),
});

const REPLAY_EVERY_S = REPLAY_EVERY_MS / 1000;
/** A client that connects and never finishes its request is dropped after this. */
const REQUEST_TIMEOUT_MS = 10_000;
/** How long stopping waits for events in progress (an ADD half done is worse than a slow stop). */
const DRAIN_MS = 10_000;

export interface CniServerOptions extends PodHooks {
  log: Logger;
  /** Where to listen; default: this network namespace's socket. */
  path?: string;
  /** Where DEL keeps releases for this daemon; default: this network namespace's (pending.ts). */
  pendingDir?: string;
  /** Whether an interface of this name is on this node (default: a netlink lookup). */
  hostLinkExists?: (name: string) => boolean;
  /** The clock for rate-limited log lines (default: Date.now). */
  now?: () => number;
}

export interface CniServer extends DaemonComponent {
  /** The socket served, or null when not serving (see the log for why). */
  socket(): string | null;
}

export function createCniServer(opts: CniServerOptions): CniServer {
  const log = opts.log;
  let listener: Deno.Listener | undefined;
  let path: string | null = null;
  const inFlight = new Set<Promise<void>>();
  let requests: Metric | undefined;
  let seconds: Metric | undefined;
  let served = 0;
  let netnsWarned = false;
  let replayer: Replayer | undefined;
  const refusals = new LogLimiter(60_000);
  const hostLinkExists = opts.hostLinkExists ?? ((name: string) => findLink(name) !== undefined);
  const now = opts.now ?? Date.now;

  /** Runs after the answer is sent (a later task); stopping waits for it like for a request. */
  function defer(what: string, task: () => Promise<void>): void {
    const clock = bothClocks();
    const p = new Promise((r) => setTimeout(r, 0)).then(task)
      .then(() => {
        clock.mark("task");
        const [ms, cpu] = [clock.wall.phases().task, clock.cpu.phases().task];
        log.debug("deferred task done", { what, ms, cpu });
      })
      .catch((e) => log.warn(`${what} failed`, { cause: describeCause(e) }))
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }

  /** Runs one event, or says why the plugin should do it itself. */
  async function serveEvent(
    req: z.infer<typeof RequestSchema>,
    clock: PhaseClock,
  ): Promise<CniReply> {
    const command = req.env.CNI_COMMAND ?? "";
    const netns = req.env.CNI_NETNS ?? "";
    if ((command === "ADD" || command === "CHECK") && netns !== "") {
      const problem = netnsProblem(netns);
      clock.mark("netns");
      if (problem) {
        if (!netnsWarned) {
          netnsWarned = true;
          log.warn(
            "cannot enter a pod's network namespace: the plugin sets pods up itself (slower); " +
              "give the daemon the runtime's netns mounts (hostPath /run/netns with " +
              "mountPropagation: HostToContainer, on a shared mount)",
            { netns, cause: problem.why },
          );
        }
        return { fallback: `the daemon cannot use CNI_NETNS: ${problem.why}` };
      }
    }
    const outcome = await executeCni(req.env, req.stdin, {
      defer,
      execName: req.execName,
      mark: clock.mark,
    });
    if (outcome.unexpected !== undefined) {
      const e = outcome.unexpected;
      log.error("pod event failed unexpectedly: the plugin does it itself", {
        command,
        cause: describeCause(e),
        stack: e instanceof Error ? e.stack : undefined,
      });
      return { fallback: `the daemon failed: ${describeCause(e)}` };
    }
    if (outcome.code === 0 && command === "ADD") {
      await notify({ command, pod: podOf(req.env, resultAddresses(outcome.output)) });
      clock.mark("hooks");
    } else if (outcome.code === 0 && command === "DEL") {
      await notify({ command, containerId: req.env.CNI_CONTAINERID ?? "" });
    }
    const { output, code, message } = outcome;
    return { output, code, message };
  }

  async function handle(conn: Deno.Conn): Promise<void> {
    const started = performance.now();
    const clock = bothClocks();
    let command = "invalid";
    let reply: CniReply;
    try {
      const req = parseRequest(await readRequest(conn));
      clock.mark("read");
      command = req.env.CNI_COMMAND ?? "";
      if (req.done !== undefined) return await answer(conn, await serveTold(req, req.done));
      reply = await serveEvent(req, clock);
    } catch (e) {
      const err = e instanceof CniError
        ? e
        : new CniError(ErrorCode.IOFailure, "reading the request failed", describeCause(e));
      reply = { output: err.toJSON(LATEST_VERSION), code: 1, message: err.message };
    }
    const result = "fallback" in reply ? "fallback" : reply.code === 0 ? "ok" : "error";
    const ms = performance.now() - started;
    requests?.inc({ command, result });
    seconds?.inc({ command }, ms / 1000);
    served++;
    const fields = {
      command,
      result,
      ms: Math.round(ms),
      phases: clock.wall.phases(),
      cpu: clock.cpu.phases(),
      ...("fallback" in reply ? { why: reply.fallback } : {}),
      ...("message" in reply && reply.message ? { error: reply.message } : {}),
      ...("output" in reply && reply.code !== 0 ? { code: reply.output?.code } : {}),
    };
    // A failed pod event is a pod that does not start (or stop): a warning, not chatter.
    if (result === "ok") log.debug("pod event", fields);
    else if (result === "fallback") log.info("pod event", fields);
    else log.warn("pod event", fields);
    await answer(conn, reply, command);
  }

  /**
   * The plugin did an ADD or DEL itself after this daemon answered fallback: the hooks learn of
   * it as of one served (cni/attached.ts checks it against this node first).
   */
  async function serveTold(
    req: z.infer<typeof RequestSchema>,
    output: Record<string, unknown>,
  ): Promise<CniReply> {
    const told = checkTold(req.env, output, hostLinkExists);
    const command = req.env.CNI_COMMAND ?? "";
    if ("refused" in told) {
      requests?.inc({ command, result: "refused" });
      const may = refusals.allow("told", now());
      if (may.log) {
        log.warn("refused a pod event the plugin reported: the hooks are not told", {
          command,
          containerId: req.env.CNI_CONTAINERID,
          why: told.refused,
          ...(may.suppressed > 0 ? { suppressed: may.suppressed } : {}),
        });
      }
      return { code: 1, message: told.refused };
    }
    await notify(told);
    requests?.inc({ command, result: "told" });
    log.debug("pod event done by the plugin", { command, containerId: req.env.CNI_CONTAINERID });
    return { code: 0 };
  }

  async function answer(conn: Deno.Conn, reply: CniReply, command = ""): Promise<void> {
    try {
      const body = new TextEncoder().encode(JSON.stringify(reply));
      for (let off = 0; off < body.length;) off += await conn.write(body.subarray(off));
    } catch (e) {
      // The plugin is gone (killed by the runtime's timeout): it will be asked again.
      log.warn("could not answer the plugin", { command, cause: describeCause(e) });
    } finally {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  }

  /** Tells the hooks about a pod attached or detached; a failing hook is logged, never fatal. */
  async function notify(told: Told) {
    try {
      await tellHooks(opts, told);
    } catch (e) {
      const command = "command" in told ? told.command : "";
      log.error("pod event hook failed", { command, cause: describeCause(e) });
    }
  }

  async function serve(l: Deno.Listener): Promise<void> {
    try {
      for await (const conn of l) {
        const p = handle(conn).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
    } catch (e) {
      if (listener) log.error("the CNI socket stopped accepting", { cause: describeCause(e) });
    }
  }

  return {
    name: "cni",
    socket: () => path,
    metrics(registry: Registry) {
      registry.gaugeFn(
        "weavets_cni_pending_releases",
        "Address releases DEL kept on the node while IPAM could not take them, not yet replayed.",
        () => [{ value: replayer?.pending().count ?? 0 }],
      );
      requests = registry.counter(
        "weavets_cni_requests_total",
        "Pod events served for the CNI plugin, by command and result (ok, error, fallback: " +
          "left to the plugin; told, refused: one the plugin did itself, reported).",
      );
      seconds = registry.counter(
        "weavets_cni_request_seconds_total",
        "Time spent serving pod events for the CNI plugin, by command.",
      );
    },
    async start() {
      replayer = createReplayer({
        dir: opts.pendingDir ?? pendingDir(),
        log,
        release: (r) => releaseAllocation(r.daemon, r.id, r.ifname),
      });
      replayer.start();
      const want = opts.path ?? cniSocketPath();
      try {
        listener = await listen(want);
      } catch (e) {
        // Not fatal: the plugin does the work itself, only slower.
        log.warn("not serving the CNI plugin: it will run pod events itself", {
          socket: want,
          cause: describeCause(e),
        });
        return;
      }
      if (!listener) {
        log.warn("another daemon serves the CNI plugin in this network namespace", {
          socket: want,
        });
        return;
      }
      path = want;
      log.info("serving the CNI plugin", { socket: want });
      serve(listener);
    },
    async stop() {
      await replayer?.stop();
      const l = listener;
      listener = undefined;
      if (!l) return;
      l.close();
      if (path) await Deno.remove(path).catch(() => {});
      path = null;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled([...inFlight]),
        new Promise((r) => timer = setTimeout(r, DRAIN_MS)),
      ]);
      clearTimeout(timer);
    },
    report: () => ({ socket: path, served, pendingReleases: replayer?.pending().count ?? 0 }),
    status: () => {
      const pending = replayer?.pending() ?? { count: 0 };
      return {
        service: "cni",
        fields: [
          ["Socket", path ?? "not serving: the plugin runs pod events itself (see the log)"],
          ["Served", `${served} pod events`],
          [
            "Pending releases",
            pending.count === 0
              ? "0"
              : `${pending.count} (kept by DEL while IPAM was away${
                pending.oldest ? `, oldest ${pending.oldest}` : ""
              }; replayed every ${REPLAY_EVERY_S} s)`,
          ],
        ],
      };
    },
  };
}

/**
 * Listens on `path` in a root-only directory. Undefined when a live daemon already answers there;
 * a socket file left by a dead one is replaced.
 */
async function listen(path: string): Promise<Deno.Listener | undefined> {
  privateDir(path.slice(0, path.lastIndexOf("/")) || CNI_SOCKET_DIR);
  try {
    (await Deno.connect({ transport: "unix", path })).close();
    return undefined;
  } catch {
    await Deno.remove(path).catch(() => {});
  }
  const l = Deno.listen({ transport: "unix", path });
  await Deno.chmod(path, 0o600);
  return l;
}

async function readRequest(conn: Deno.Conn): Promise<string> {
  let text = "";
  let total = 0;
  const dec = new TextDecoder();
  const buf = new Uint8Array(64 * 1024);
  const deadline = Date.now() + REQUEST_TIMEOUT_MS;
  while (true) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(buf),
      new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), deadline - Date.now())),
    ]).finally(() => clearTimeout(timer));
    if (n === "timeout") {
      throw new CniError(
        ErrorCode.IOFailure,
        `the request was not complete after ${REQUEST_TIMEOUT_MS / 1000} s`,
      );
    }
    if (n === null) return text + dec.decode();
    total += n;
    if (total > MAX_REQUEST_BYTES) {
      throw new CniError(
        ErrorCode.DecodeFailure,
        `the request is larger than ${MAX_REQUEST_BYTES} bytes; a network config is far smaller`,
      );
    }
    text += dec.decode(buf.subarray(0, n), { stream: true });
  }
}

function parseRequest(text: string): z.infer<typeof RequestSchema> {
  const json = decodeJson(
    text,
    "the request is not JSON: only the weavets CNI plugin talks on this socket",
  );
  const r = RequestSchema.safeParse(json);
  if (!r.success) {
    throw new CniError(
      ErrorCode.DecodeFailure,
      'the request is not {"env": {...}, "stdin": "..."}: only the weavets CNI plugin talks ' +
        "on this socket",
      formatIssues(r.error.issues),
    );
  }
  return r.data;
}
