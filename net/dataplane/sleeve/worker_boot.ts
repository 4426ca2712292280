/**
 * The bootstrap both userspace-path Workers share: wait for "init", build the Worker's body,
 * report ready, route control messages to it, and run its loop until "stop", until the supervisor
 * moved on to a newer generation of this role (shared.ts), or until something fails — then it
 * reports the error and does nothing more: the supervisor (supervisor.ts) replaces the Worker.
 */
/// <reference lib="deno.worker" />
import type {
  SleeveControl,
  SleevePeer,
  SleeveReport,
  SleeveWorkerInit,
  WorkerRole,
} from "./messages.ts";
import type { PeerKeys } from "./keys.ts";
import { SleeveShared } from "./shared.ts";

export interface SleeveWorkerBody {
  setPeers(list: SleevePeer[], broadcast: string[], keys: PeerKeys[]): void;
  /** The tx ↔ rx channel was remade (the other Worker was replaced). */
  setPort(port: MessagePort): void;
  /** Runs batches while `running()` is true (calling it at least every ~100 ms). */
  loop(running: () => boolean): Promise<void>;
}

export function serveSleeveWorker(
  role: WorkerRole,
  start: (init: SleeveWorkerInit, report: (m: SleeveReport) => void) => SleeveWorkerBody,
): void {
  const report = (m: SleeveReport) => self.postMessage(m);
  const fail = (err: unknown) => report({ type: "error", role, message: String(err) });
  self.onmessage = (e: MessageEvent<SleeveControl>) => {
    if (e.data.type !== "init") return;
    const init = e.data;
    const shared = new SleeveShared(init.shared);
    let body: SleeveWorkerBody;
    try {
      body = start(init, report);
    } catch (err) {
      fail(err);
      return;
    }
    let running = true;
    let failed = false;
    self.onmessage = (m: MessageEvent<SleeveControl>) => {
      if (failed) return;
      try {
        if (m.data.type === "peers") body.setPeers(m.data.peers, m.data.broadcast, m.data.keys);
        else if (m.data.type === "port") body.setPort(m.data.port);
        else if (m.data.type === "stop") running = false;
      } catch (err) {
        // The body's state is unknown now: stop and let the supervisor start afresh.
        failed = true;
        fail(err);
      }
    };
    report({ type: "ready", role });
    body.loop(() => {
      shared.beat(role, Date.now());
      return running && !failed && shared.generation(role) === init.generation;
    }).then(
      () => {
        if (!failed) report({ type: "stopped", role });
      },
      (err) => {
        failed = true;
        fail(err);
      },
    );
  };
}
