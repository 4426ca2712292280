/**
 * A small typed Kubernetes API client over fetch: list and watch any collection (Nodes; Pods,
 * Namespaces and NetworkPolicies for the policy controller), get and update one ConfigMap and
 * weavets' Secrets, patch a Node's status. The server's certificate is checked against the
 * configured CA (Deno.createHttpClient); every response body is parsed by a zod schema, list items and watched
 * objects one at a time, so one that does not fit is skipped and counted, not fatal.
 *
 * Why not @kubernetes/client-node: it works under Deno, but importing it took ~0.7 s and it brings
 * ~60 MB of dependencies (undici, ws, openid-client, socks…) into the single binary for a few calls.
 */
import { describeCause } from "../cause.ts";
import { type ErrorKind, WeavetsError } from "../errors.ts";
import type { z } from "zod";
import type { KubeClientConfig } from "./config.ts";
import {
  type ConfigMap,
  configMapSchema,
  listPageSchema,
  type ListResult,
  type Node,
  type NodeChange,
  nodeSchema,
  type Secret,
  secretSchema,
  statusSchema,
  type WatchChange,
  watchLineSchema,
} from "./types.ts";

/** The API answered with an error status (`status`: HTTP code; 409 = resourceVersion conflict). */
export class KubeApiError extends WeavetsError {
  override name = "KubeApiError";
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(kubeStatusKind(status), message);
  }
}

/**
 * The kind (net/errors.ts) of an API server's error status: credentials or RBAC the operator must
 * fix are `config`; throttling, timeouts and server errors pass (`unavailable`); a status for a
 * request this client made wrong is a bug (`internal`).
 */
export function kubeStatusKind(status: number): ErrorKind {
  if (status === 404) return "not-found";
  if (status === 409 || status === 410) return "conflict";
  if (status === 401 || status === 403) return "config";
  if (status === 408 || status === 429 || status >= 500) return "unavailable";
  return "internal";
}

/** The API server could not be reached, or the connection broke. */
export class KubeUnreachableError extends WeavetsError {
  override name = "KubeUnreachableError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("unavailable", message, opts);
  }
}

/** The API answered something that does not have the expected shape. */
export class KubeResponseError extends WeavetsError {
  override name = "KubeResponseError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("invalid-input", message, opts);
  }
}

export const isConflict = (e: unknown) => e instanceof KubeApiError && e.status === 409;
export const isGone = (e: unknown) => e instanceof KubeApiError && e.status === 410;

const REQUEST_TIMEOUT_MS = 15_000;
/** Server-side watch duration; the client gives up 30 s after it if the stream went silent. */
const WATCH_SECONDS = 300;
/** A watch line longer than this is refused (memory stays bounded whatever the server sends). */
const MAX_WATCH_LINE = 8 << 20;

export class KubeClient {
  readonly #cfg: KubeClientConfig;
  readonly #http: Deno.HttpClient;
  #token?: { value: string; readAt: number };
  #closed = false;

  constructor(cfg: KubeClientConfig) {
    this.#cfg = cfg;
    this.#http = Deno.createHttpClient({
      ...(cfg.caCerts ? { caCerts: cfg.caCerts } : {}),
      ...(cfg.clientCert && cfg.clientKey ? { cert: cfg.clientCert, key: cfg.clientKey } : {}),
    });
  }

  get server(): string {
    return this.#cfg.server;
  }

  /** Releases the connection pool; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#http.close();
  }

  /** All Nodes, page by page, with the list's resourceVersion (where a watch starts). */
  async listNodes(signal?: AbortSignal): Promise<ListResult<Node>> {
    const list = await this.list("/api/v1/nodes", nodeSchema, signal);
    if (list.invalid > 0) {
      throw new KubeResponseError(`/api/v1/nodes: ${list.invalid} nodes of unexpected shape`);
    }
    return list;
  }

  /** Node changes after `resourceVersion`; see watch(). A malformed Node fails the watch. */
  async *watchNodes(resourceVersion: string, signal?: AbortSignal): AsyncGenerator<NodeChange> {
    for await (const ev of this.watch("/api/v1/nodes", resourceVersion, nodeSchema, signal)) {
      if (ev.type === "INVALID") throw new KubeResponseError(`/api/v1/nodes (watch): ${ev.error}`);
      yield ev;
    }
  }

  /**
   * Every object of a collection (e.g. "/api/v1/pods"), page by page, each parsed by `item`:
   * those that do not fit are counted in `invalid` and left out.
   */
  async list<T>(path: string, item: z.ZodType<T>, signal?: AbortSignal): Promise<ListResult<T>> {
    const items: T[] = [];
    let invalid = 0;
    let cont: string | undefined;
    let resourceVersion: string;
    do {
      const q = new URLSearchParams({ limit: "500" });
      if (cont) q.set("continue", cont);
      const page = await this.#json("GET", `${path}?${q}`, listPageSchema, { signal });
      for (const raw of page.items) {
        const r = item.safeParse(raw);
        if (r.success) items.push(r.data);
        else invalid++;
      }
      resourceVersion = page.metadata.resourceVersion;
      cont = page.metadata.continue || undefined;
    } while (cont);
    return { metadata: { resourceVersion }, items, invalid };
  }

  /**
   * Changes of a collection after `resourceVersion`, until the server ends the watch (about five
   * minutes) or `signal` aborts. An expired resourceVersion surfaces as a KubeApiError with status
   * 410, whether the server says so in the HTTP status or in an ERROR event. An object that does
   * not fit `item` is yielded as INVALID, so the caller can count it and carry on.
   */
  async *watch<T>(
    path: string,
    resourceVersion: string,
    item: z.ZodType<T>,
    signal?: AbortSignal,
  ): AsyncGenerator<WatchChange<T>> {
    const q = new URLSearchParams({
      watch: "1",
      resourceVersion,
      allowWatchBookmarks: "true",
      timeoutSeconds: String(WATCH_SECONDS),
    });
    const res = await this.#fetch("GET", `${path}?${q}`, {
      signal,
      timeoutMs: (WATCH_SECONDS + 30) * 1000,
    });
    const what = `${path} (watch)`;
    let buf = "";
    try {
      for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line !== "") yield parseWatchLine(line, item, what);
        }
        if (buf.length > MAX_WATCH_LINE) {
          throw new KubeResponseError(`${what}: an event longer than ${MAX_WATCH_LINE} bytes`);
        }
      }
    } catch (e) {
      if (e instanceof KubeApiError || e instanceof KubeResponseError) throw e;
      if (signal?.aborted) return;
      throw new KubeUnreachableError(`${what}: stream broke: ${describeCause(e)}`);
    } finally {
      await res.body?.cancel().catch(() => {});
    }
  }

  getConfigMap(namespace: string, name: string, signal?: AbortSignal): Promise<ConfigMap> {
    return this.#json("GET", cmPath(namespace, name), configMapSchema, { signal });
  }

  /** Replaces the ConfigMap; fails with 409 if its metadata.resourceVersion is not current. */
  updateConfigMap(cm: ConfigMap, signal?: AbortSignal): Promise<ConfigMap> {
    const ns = cm.metadata.namespace;
    if (!ns) throw new TypeError("updateConfigMap: metadata.namespace is required");
    return this.#json("PUT", cmPath(ns, cm.metadata.name), configMapSchema, {
      signal,
      body: { apiVersion: "v1", kind: "ConfigMap", ...cm },
    });
  }

  /** A JSON merge patch of a Node (its metadata: the peer-key annotation). */
  async patchNode(name: string, patch: unknown, signal?: AbortSignal): Promise<void> {
    const res = await this.#fetch(
      "PATCH",
      `/api/v1/nodes/${encodeURIComponent(name)}`,
      { signal, body: patch, contentType: "application/merge-patch+json" },
    );
    await res.body?.cancel();
  }

  getSecret(namespace: string, name: string, signal?: AbortSignal): Promise<Secret> {
    return this.#json("GET", secretPath(namespace, name), secretSchema, { signal });
  }

  /** Replaces the Secret; fails with 409 if its metadata.resourceVersion is not current. */
  updateSecret(secret: Secret, signal?: AbortSignal): Promise<Secret> {
    const ns = secret.metadata.namespace;
    if (!ns) throw new TypeError("updateSecret: metadata.namespace is required");
    return this.#json("PUT", secretPath(ns, secret.metadata.name), secretSchema, {
      signal,
      body: { apiVersion: "v1", kind: "Secret", ...secret },
    });
  }

  /** A strategic-merge patch of a Node's status (conditions merge by type). */
  async patchNodeStatus(name: string, patch: unknown, signal?: AbortSignal): Promise<void> {
    const res = await this.#fetch(
      "PATCH",
      `/api/v1/nodes/${encodeURIComponent(name)}/status`,
      { signal, body: patch, contentType: "application/strategic-merge-patch+json" },
    );
    await res.body?.cancel();
  }

  async #json<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    opts: { signal?: AbortSignal; body?: unknown },
  ): Promise<z.infer<S>> {
    const res = await this.#fetch(method, path, opts);
    let body: unknown;
    try {
      body = await res.json();
    } catch (e) {
      throw new KubeUnreachableError(
        `${method} ${path}: reading the response: ${describeCause(e)}`,
      );
    }
    return parse(schema, body, `${method} ${path}`);
  }

  async #fetch(
    method: string,
    path: string,
    opts: { signal?: AbortSignal; body?: unknown; contentType?: string; timeoutMs?: number },
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json" };
    const token = this.#bearer();
    if (token) headers.authorization = `Bearer ${token}`;
    if (opts.body !== undefined) headers["content-type"] = opts.contentType ?? "application/json";
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? REQUEST_TIMEOUT_MS);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await fetch(this.#cfg.server + path, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal,
        client: this.#http,
      });
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      const why = timeout.aborted ? "timed out" : describeCause(e);
      throw new KubeUnreachableError(`${method} ${path}: API server ${this.#cfg.server}: ${why}`);
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => "");
    let reason = res.statusText;
    let message = text.trim().slice(0, 500);
    try {
      const s = statusSchema.parse(JSON.parse(text));
      reason = s.reason ?? reason;
      message = s.message ?? message;
    } catch {
      // not a Status body: keep the raw text
    }
    const hint = res.status === 401 || res.status === 403
      ? " (check the weavets ServiceAccount and RBAC in deploy/weavets.yaml)"
      : "";
    throw new KubeApiError(
      res.status,
      reason,
      `${method} ${path}: ${res.status} ${reason}: ${message}${hint}`,
    );
  }

  #bearer(): string | undefined {
    if (this.#cfg.token) return this.#cfg.token;
    const file = this.#cfg.tokenFile;
    if (!file) return undefined;
    const now = Date.now();
    // The kubelet rotates the projected token file; re-reading once a minute follows it.
    if (!this.#token || now - this.#token.readAt > 60_000) {
      this.#token = { value: Deno.readTextFileSync(file).trim(), readAt: now };
    }
    return this.#token.value;
  }
}

function cmPath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${
    encodeURIComponent(name)
  }`;
}

function parseWatchLine<T>(line: string, item: z.ZodType<T>, what: string): WatchChange<T> {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    throw new KubeResponseError(`${what}: a line that is not JSON`);
  }
  const ev = parse(watchLineSchema, json, what);
  if (ev.type === "ERROR") {
    const s = ev.object;
    throw new KubeApiError(s.code ?? 500, s.reason ?? "", `${what}: ${s.message ?? s.reason}`);
  }
  if (ev.type === "BOOKMARK") return ev;
  const r = item.safeParse(ev.object);
  if (r.success) return { type: ev.type, object: r.data };
  const rv = (ev.object as { metadata?: { resourceVersion?: unknown } })?.metadata
    ?.resourceVersion;
  const issue = r.error.issues[0];
  return {
    type: "INVALID",
    resourceVersion: typeof rv === "string" ? rv : undefined,
    error: `${issue.path.join(".")}: ${issue.message}`,
  };
}

function secretPath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`;
}

function parse<S extends z.ZodType>(schema: S, body: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new KubeResponseError(
    `${what}: unexpected response: ${issue.path.join(".")}: ${issue.message}`,
  );
}
