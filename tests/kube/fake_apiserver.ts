/**
 * TEST DOUBLE — a minimal stand-in for the Kubernetes API server, for tests only. It serves the
 * real wire shapes of exactly what weavets uses, over HTTPS on 127.0.0.1 with a throwaway CA:
 *
 * - GET  /api/v1/nodes, /api/v1/pods, /api/v1/namespaces,
 *        /apis/networking.k8s.io/v1/networkpolicies   lists (paginated with limit/continue) with
 *        metadata.resourceVersion; with ?watch=1&resourceVersion=N chunked JSON lines of watch
 *        events, a compacted resourceVersion getting an ERROR event with a 410 Status, as the real
 *        server does (fake_collections.ts)
 * - GET/PUT /api/v1/namespaces/kube-system/configmaps/weavets   with optimistic concurrency: a PUT
 *        whose metadata.resourceVersion is not current gets 409 Conflict
 * - PATCH /api/v1/nodes/NAME/status         strategic merge of status.conditions (by type)
 * - PATCH /api/v1/nodes/NAME                JSON merge patch of metadata.annotations
 * - GET  /api/v1/namespaces/NS/pods         one namespace's pods (a list only)
 * - GET/PUT /api/v1/namespaces/kube-system/secrets/NAME   the Secrets put here with `setSecret`,
 *        PUT with optimistic concurrency as for the ConfigMap (no create: the daemon has none)
 *
 * Everything else is 404. One resourceVersion counter for all objects, like etcd's revision.
 * Controls: add/delete nodes, put/delete pods, namespaces (labelled kubernetes.io/metadata.name
 * as the real server does) and NetworkPolicies, compact history, force conflicts, go down and
 * come back up.
 */
import { type Clock, Collection } from "./fake_collections.ts";
import type { Pki } from "./fake_pki.ts";

// The PKI lives in fake_pki.ts; the tests take both from here.
export { makePki, type Pki } from "./fake_pki.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

const CM_PATH = "/api/v1/namespaces/kube-system/configmaps/weavets";

export class FakeApiServer {
  readonly token = "wtk-test-token-" + crypto.randomUUID();
  port = 0;
  /** Where it listens; a test may serve inside a namespace of its own (see start()). */
  hostname = "127.0.0.1";
  #pki: Pki;
  #server?: Deno.HttpServer<Deno.NetAddr>;
  readonly #clock: Clock = { rv: 100, compactedRv: 0 };
  readonly #nodes = new Collection("Node", this.#clock);
  readonly pods = new Collection("Pod", this.#clock);
  readonly namespaces = new Collection("Namespace", this.#clock);
  readonly networkPolicies = new Collection("NetworkPolicy", this.#clock);
  readonly #collections = new Map([
    ["/api/v1/nodes", this.#nodes],
    ["/api/v1/pods", this.pods],
    ["/api/v1/namespaces", this.namespaces],
    ["/apis/networking.k8s.io/v1/networkpolicies", this.networkPolicies],
  ]);
  #cm: Obj;
  #forcedConflicts = 0;
  #secrets = new Map<string, Obj>();
  #down = false;
  /** Every request: "METHOD path" and, for ConfigMap PUTs, the status answered. */
  readonly requests: string[] = [];
  readonly conflicts = { forced: 0, real: 0 };
  readonly statusPatches: Array<{ node: string; patch: Obj; contentType: string | null }> = [];

  constructor(pki: Pki) {
    this.#pki = pki;
    this.#cm = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: "weavets",
        namespace: "kube-system",
        uid: crypto.randomUUID(),
        resourceVersion: String(++this.#clock.rv),
        labels: { "app.kubernetes.io/name": "weavets" },
        creationTimestamp: new Date().toISOString(),
      },
    };
  }

  get url(): string {
    return `https://${this.hostname}:${this.port}`;
  }

  /**
   * Starts serving. The listening socket is made synchronously, so calling this inside
   * `inNetns` serves in that network namespace.
   */
  start(): void {
    this.#server = Deno.serve({
      hostname: this.hostname,
      port: this.port,
      cert: this.#pki.cert,
      key: this.#pki.key,
      onListen: () => {},
    }, (req, info) => this.#handle(req, info.completed));
    this.port = this.#server.addr.port;
  }

  /** Unreachable: watches are cut and the port refuses connections until up(). */
  async down(): Promise<void> {
    this.#down = true; // requests that arrive during the shutdown get no long-lived stream
    for (const c of this.#collections.values()) c.closeWatches();
    await this.#server?.shutdown();
    this.#server = undefined;
  }

  up(): void {
    this.#down = false;
    this.start();
  }

  async close(): Promise<void> {
    await this.down();
  }

  // --- controls --------------------------------------------------------------------------------

  addNode(name: string, internalIP?: string, externalIP?: string): void {
    const addresses = [
      ...(internalIP ? [{ type: "InternalIP", address: internalIP }] : []),
      ...(externalIP ? [{ type: "ExternalIP", address: externalIP }] : []),
      { type: "Hostname", address: name },
    ];
    const node = {
      kind: "Node",
      apiVersion: "v1",
      metadata: {
        name,
        labels: { "kubernetes.io/hostname": name },
        creationTimestamp: new Date().toISOString(),
      },
      spec: { podCIDR: undefined },
      status: {
        addresses,
        conditions: [{ type: "Ready", status: "True", reason: "KubeletReady" }],
      },
    };
    this.#nodes.put(node);
  }

  deleteNode(name: string): void {
    this.#nodes.delete("", name);
  }

  nodeNames(): string[] {
    return this.#nodes.all().map((n) => n.metadata.name).sort();
  }

  node(name: string): Obj {
    return this.#nodes.get("", name);
  }

  /** A namespace, labelled kubernetes.io/metadata.name as the real API server does. */
  putNamespace(name: string, labels: Record<string, string> = {}): void {
    this.namespaces.put({
      kind: "Namespace",
      apiVersion: "v1",
      metadata: { name, labels: { ...labels, "kubernetes.io/metadata.name": name } },
    });
  }

  /**
   * Compaction: the history so far is dropped and open watches end. A watcher resuming from an
   * older resourceVersion gets 410 Gone and must list again.
   */
  compact(): void {
    this.#clock.compactedRv = ++this.#clock.rv;
    for (const c of this.#collections.values()) c.compact();
  }

  /** The next `n` ConfigMap updates fail with 409 whatever their resourceVersion. */
  forceConflicts(n: number): void {
    this.#forcedConflicts = n;
  }

  configMap(): Obj {
    return structuredClone(this.#cm);
  }

  setAnnotations(annotations: Record<string, string>): void {
    this.#cm.metadata.annotations = { ...annotations };
    this.#cm.metadata.resourceVersion = String(++this.#clock.rv);
  }

  /** Creates (or replaces) a Secret in kube-system; `data` values are plain text here. */
  setSecret(name: string, data: Record<string, string> | null): void {
    this.#secrets.set(name, {
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      metadata: {
        name,
        namespace: "kube-system",
        uid: crypto.randomUUID(),
        resourceVersion: String(++this.#clock.rv),
      },
      ...(data
        ? {
          data: Object.fromEntries(
            Object.entries(data).map(([k, v]) => [k, btoa(v)]),
          ),
        }
        : {}),
    });
  }

  secret(name: string): Obj {
    return structuredClone(this.#secrets.get(name));
  }

  // --- API -------------------------------------------------------------------------------------

  async #handle(req: Request, completed: Promise<void>): Promise<Response> {
    const url = new URL(req.url);
    this.requests.push(
      `${req.method} ${url.pathname}${url.searchParams.has("watch") ? " watch" : ""}`,
    );
    if (this.#down) return status(503, "ServiceUnavailable", "shutting down");
    if (req.headers.get("authorization") !== `Bearer ${this.token}`) {
      return status(401, "Unauthorized", "Unauthorized");
    }
    const collection = this.#collections.get(url.pathname);
    if (collection && req.method === "GET") {
      if (url.searchParams.get("watch") === "1") {
        return collection.watch(Number(url.searchParams.get("resourceVersion") ?? "0"), completed);
      }
      const list = collection.list(url);
      return list ? json(200, list) : status(410, "Expired", "the continue token has expired");
    }
    // One namespace's pods (the daemon's safe start lists kube-system's): the list, filtered.
    const nsPods = url.pathname.match(/^\/api\/v1\/namespaces\/([^/]+)\/pods$/);
    if (nsPods && req.method === "GET" && !url.searchParams.has("watch")) {
      const list = this.pods.list(url);
      if (!list) return status(410, "Expired", "the continue token has expired");
      const items = list.items.filter((p: Obj) => p.metadata?.namespace === nsPods[1]);
      return json(200, { ...list, items });
    }
    const m = url.pathname.match(/^\/api\/v1\/nodes\/([^/]+)\/status$/);
    if (m && req.method === "PATCH") return this.#patchStatus(decodeURIComponent(m[1]), req);
    const n = url.pathname.match(/^\/api\/v1\/nodes\/([^/]+)$/);
    if (n && req.method === "PATCH") return this.#patchNode(decodeURIComponent(n[1]), req);
    if (url.pathname === CM_PATH && req.method === "GET") return json(200, this.#cm);
    if (url.pathname === CM_PATH && req.method === "PUT") return this.#updateCm(await req.json());
    const sm = url.pathname.match(/^\/api\/v1\/namespaces\/kube-system\/secrets\/([^/]+)$/);
    const secret = sm && this.#secrets.get(decodeURIComponent(sm[1]));
    if (sm && !secret) return status(404, "NotFound", `secrets "${sm[1]}" not found`);
    if (sm && req.method === "GET") return json(200, secret);
    if (sm && req.method === "PUT") return this.#updateSecret(secret, await req.json());
    return status(404, "NotFound", `the server could not find the requested resource`);
  }

  #updateCm(body: Obj): Response {
    const current = this.#cm.metadata.resourceVersion;
    if (this.#forcedConflicts > 0 || body?.metadata?.resourceVersion !== current) {
      if (this.#forcedConflicts > 0) {
        this.#forcedConflicts--;
        this.conflicts.forced++;
      } else this.conflicts.real++;
      this.requests.push("PUT configmap -> 409");
      return status(
        409,
        "Conflict",
        'Operation cannot be fulfilled on configmaps "weavets": the object has been modified; ' +
          "please apply your changes to the latest version and try again",
      );
    }
    this.#cm = {
      ...body,
      metadata: {
        ...body.metadata,
        uid: this.#cm.metadata.uid,
        resourceVersion: String(++this.#clock.rv),
      },
    };
    this.requests.push("PUT configmap -> 200");
    return json(200, this.#cm);
  }

  async #patchNode(name: string, req: Request): Promise<Response> {
    const node = structuredClone(this.#nodes.get("", name));
    if (!node) return status(404, "NotFound", `nodes "${name}" not found`);
    const contentType = req.headers.get("content-type");
    if (contentType !== "application/merge-patch+json") {
      return status(415, "UnsupportedMediaType", `unsupported content type ${contentType}`);
    }
    const patch = await req.json();
    const annotations = { ...node.metadata.annotations };
    for (const [k, v] of Object.entries(patch?.metadata?.annotations ?? {})) {
      if (v === null) delete annotations[k];
      else annotations[k] = v;
    }
    node.metadata.annotations = annotations;
    return json(200, this.#nodes.put(node));
  }

  #updateSecret(current: Obj, body: Obj): Response {
    if (
      this.#forcedConflicts > 0 ||
      body?.metadata?.resourceVersion !== current.metadata.resourceVersion
    ) {
      if (this.#forcedConflicts > 0) this.#forcedConflicts--;
      this.requests.push("PUT secret -> 409");
      return status(
        409,
        "Conflict",
        `Operation cannot be fulfilled on secrets: the object has been modified`,
      );
    }
    const next = {
      ...body,
      metadata: {
        ...body.metadata,
        uid: current.metadata.uid,
        resourceVersion: String(++this.#clock.rv),
      },
    };
    this.#secrets.set(current.metadata.name, next);
    this.requests.push("PUT secret -> 200");
    return json(200, next);
  }

  async #patchStatus(name: string, req: Request): Promise<Response> {
    const node = structuredClone(this.#nodes.get("", name));
    if (!node) return status(404, "NotFound", `nodes "${name}" not found`);
    const contentType = req.headers.get("content-type");
    if (contentType !== "application/strategic-merge-patch+json") {
      return status(415, "UnsupportedMediaType", `unsupported content type ${contentType}`);
    }
    const patch = await req.json();
    this.statusPatches.push({ node: name, patch, contentType });
    const conditions: Obj[] = node.status.conditions;
    for (const c of patch?.status?.conditions ?? []) {
      const i = conditions.findIndex((x) => x.type === c.type);
      if (i >= 0) conditions[i] = { ...conditions[i], ...c };
      else conditions.push(c);
    }
    return json(200, this.#nodes.put(node));
  }
}

function json(code: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status: code,
    headers: { "content-type": "application/json" },
  });
}

function status(code: number, reason: string, message: string): Response {
  return json(code, {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
  });
}
