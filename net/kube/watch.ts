/**
 * Keep a picture of one Kubernetes collection current: list it, then watch from the list's
 * resourceVersion, resuming each watch where the last one ended; list again when the server says
 * the resourceVersion is gone (410) or a watch cannot resume. Errors are retried with backoff for
 * as long as it runs; the handler keeps its picture meanwhile. This module keeps no objects (the
 * handler decides what to keep), only the resourceVersion: memory does not grow with the stream.
 */
import { describeCause } from "../cause.ts";
import type { z } from "zod";
import type { Logger } from "../log.ts";
import { isGone, type KubeClient } from "./client.ts";

export interface CollectionHandler<T> {
  /** The whole collection, after the first list and after every relist. */
  replace(items: T[]): void;
  /** An object was added or modified. */
  upsert(item: T): void;
  /** An object was deleted (its last state). */
  remove(item: T): void;
  /** Objects that did not fit the schema and were skipped (in a list or one event). */
  invalid?(count: number, error: string): void;
}

export interface ListWatchOptions<T> {
  client: KubeClient;
  /** The collection, e.g. "/api/v1/pods" or "/apis/networking.k8s.io/v1/networkpolicies". */
  path: string;
  schema: z.ZodType<T>;
  handler: CollectionHandler<T>;
  log: Logger;
  signal: AbortSignal;
  /** Backoff after an error: from baseMs doubling to capMs. */
  backoffBaseMs?: number;
  backoffCapMs?: number;
}

export interface ListWatch {
  /** Resolves after the first successful list has been handed to the handler. */
  readonly synced: Promise<void>;
  /** Resolves when the signal aborted and the loop ended. */
  readonly done: Promise<void>;
}

/** What every Kubernetes object has, and all this module reads of it. */
type Versioned = { metadata: { resourceVersion?: string } };

export function listWatch<T extends Versioned>(o: ListWatchOptions<T>): ListWatch {
  let markSynced!: () => void;
  const synced = new Promise<void>((r) => (markSynced = r));
  const done = run(o, markSynced);
  return { synced, done };
}

async function run<T extends Versioned>(
  o: ListWatchOptions<T>,
  markSynced: () => void,
): Promise<void> {
  const base = o.backoffBaseMs ?? 500;
  const cap = o.backoffCapMs ?? 30_000;
  let rv: string | undefined;
  let failures = 0;
  while (!o.signal.aborted) {
    try {
      if (rv === undefined) {
        rv = await relist(o);
        markSynced();
      }
      for await (const ev of o.client.watch(o.path, rv, o.schema, o.signal)) {
        failures = 0;
        if (ev.type === "INVALID") {
          if (ev.resourceVersion) rv = ev.resourceVersion;
          o.handler.invalid?.(1, ev.error);
          continue;
        }
        rv = ev.object.metadata.resourceVersion ?? rv;
        if (ev.type === "DELETED") o.handler.remove(ev.object);
        else if (ev.type !== "BOOKMARK") o.handler.upsert(ev.object);
      }
    } catch (e) {
      if (o.signal.aborted) return;
      if (isGone(e)) {
        o.log.info("watch expired; listing again", { path: o.path });
        rv = undefined;
        continue;
      }
      const delay = Math.round(
        Math.min(cap, base * 2 ** Math.min(failures++, 30)) *
          (1 - 0.25 * Math.random()),
      );
      o.log.warn("Kubernetes API unavailable; keeping what is known, retrying", {
        path: o.path,
        error: describeCause(e),
        retryInMs: delay,
      });
      await sleep(delay, o.signal);
    }
  }
}

/**
 * Lists the collection, hands it to the handler, and returns the list's resourceVersion. A
 * function of its own so that nothing of the list stays reachable once the handler has it: a
 * suspended async function keeps its locals, and `run` is suspended in the watch for minutes
 * (measured: the parsed lists of 5,000 Pods and 1,000 NetworkPolicies, 4.8 MB, kept that way).
 */
async function relist<T extends Versioned>(o: ListWatchOptions<T>): Promise<string> {
  const list = await o.client.list(o.path, o.schema, o.signal);
  if (list.invalid > 0) o.handler.invalid?.(list.invalid, "objects of unexpected shape");
  o.handler.replace(list.items);
  o.log.debug("listed", { path: o.path, objects: list.items.length });
  return list.metadata.resourceVersion;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(id);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const id = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
