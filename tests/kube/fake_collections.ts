/**
 * TEST DOUBLE (part of fake_apiserver.ts) — one collection of the fake API server: objects by
 * namespace/name, list (paginated from a snapshot, as the real server serves `limit`/`continue`)
 * and watch (chunked JSON lines of ADDED/MODIFIED/DELETED after a resourceVersion; a compacted
 * one gets an ERROR event with a 410 Status, as the real server does). Every collection of one
 * server shares its resourceVersion counter, like etcd's revision.
 */

// deno-lint-ignore no-explicit-any
type Obj = any;

export interface Clock {
  rv: number;
  /** Events at or before this resourceVersion are compacted away (410 Gone for watches). */
  compactedRv: number;
}

interface WatchEvent {
  rv: number;
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: Obj;
}

interface Watcher {
  from: number;
  ctl: ReadableStreamDefaultController<Uint8Array>;
}

const enc = new TextEncoder();

export function line(v: unknown): Uint8Array {
  return enc.encode(JSON.stringify(v) + "\n");
}

export class Collection {
  readonly #objects = new Map<string, Obj>();
  #history: WatchEvent[] = [];
  readonly #watchers = new Set<Watcher>();
  readonly #snapshots = new Map<string, { items: Obj[]; rv: number }>();

  constructor(readonly kind: string, readonly clock: Clock) {}

  static key(o: Obj): string {
    return `${o.metadata.namespace ?? ""}/${o.metadata.name}`;
  }

  get(namespace: string, name: string): Obj | undefined {
    return this.#objects.get(`${namespace}/${name}`);
  }

  all(): Obj[] {
    return [...this.#objects.values()];
  }

  /** Creates or replaces an object (ADDED or MODIFIED); returns the stored copy. */
  put(o: Obj): Obj {
    const key = Collection.key(o);
    const type = this.#objects.has(key) ? "MODIFIED" : "ADDED";
    const stored = structuredClone(o);
    stored.metadata.resourceVersion = String(++this.clock.rv);
    stored.metadata.uid ??= this.#objects.get(key)?.metadata.uid ?? crypto.randomUUID();
    this.#objects.set(key, stored);
    this.#emit(type, stored);
    return stored;
  }

  delete(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const o = this.#objects.get(key);
    if (!o) throw new Error(`no ${this.kind} ${key}`);
    this.#objects.delete(key);
    const gone = structuredClone(o);
    gone.metadata.resourceVersion = String(++this.clock.rv);
    this.#emit("DELETED", gone);
  }

  /** Drops the history and ends open watches (after the clock's compactedRv moved). */
  compact(): void {
    this.#history = [];
    this.closeWatches();
  }

  closeWatches(): void {
    for (const w of this.#watchers) w.ctl.close();
    this.#watchers.clear();
  }

  #emit(type: WatchEvent["type"], object: Obj): void {
    const ev = {
      rv: Number(object.metadata.resourceVersion),
      type,
      object: structuredClone(object),
    };
    this.#history.push(ev);
    for (const w of this.#watchers) {
      if (ev.rv > w.from) w.ctl.enqueue(line({ type, object: ev.object }));
    }
  }

  list(url: URL): Obj {
    const limit = Number(url.searchParams.get("limit") ?? "0");
    const cont = url.searchParams.get("continue");
    let snap = cont ? this.#snapshots.get(cont) : undefined;
    if (cont && !snap) return null;
    snap ??= {
      items: [...this.#objects.values()].sort((a, b) =>
        Collection.key(a) < Collection.key(b) ? -1 : 1
      ),
      rv: this.clock.rv,
    };
    const n = limit > 0 ? limit : snap.items.length;
    const items = snap.items.slice(0, n);
    const rest = snap.items.slice(n);
    const metadata: Obj = { resourceVersion: String(snap.rv) };
    if (cont) this.#snapshots.delete(cont);
    if (rest.length > 0) {
      const token = crypto.randomUUID();
      this.#snapshots.set(token, { items: rest, rv: snap.rv });
      metadata.continue = token;
    }
    return { kind: `${this.kind}List`, apiVersion: "v1", metadata, items };
  }

  watch(from: number, completed: Promise<void>): Response {
    let ctl!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) });
    if (from < this.clock.compactedRv) {
      // The real API server answers 200 and sends one ERROR event, then ends the stream.
      ctl.enqueue(line({
        type: "ERROR",
        object: {
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          message: `too old resource version: ${from} (${this.clock.compactedRv})`,
          reason: "Expired",
          code: 410,
        },
      }));
      ctl.close();
    } else {
      for (const ev of this.#history) {
        if (ev.rv > from) ctl.enqueue(line({ type: ev.type, object: ev.object }));
      }
      const w = { from, ctl };
      this.#watchers.add(w);
      // Gone when the stream ends or the client hangs up (then `completed` rejects).
      completed.catch(() => {}).finally(() => this.#watchers.delete(w));
    }
    return new Response(body, { headers: { "content-type": "application/json" } });
  }
}
