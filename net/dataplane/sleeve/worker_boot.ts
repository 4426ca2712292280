/**
 * The bootstrap both userspace-path Workers share: wait for "init", build the Worker's body,
 * report ready, route peer updates to it, and run its loop until "stop" (or an error).
 */
/// <reference lib="deno.worker" />
import type { SleeveControl, SleevePeer, SleeveReport, SleeveWorkerInit } from "./messages.ts";
import type { PeerKeys } from "./keys.ts";

export interface SleeveWorkerBody {
  setPeers(list: SleevePeer[], broadcast: string[], keys: PeerKeys[]): void;
  /** Runs batches while `running()` is true. */
  loop(running: () => boolean): Promise<void>;
}

export function serveSleeveWorker(
  role: "tx" | "rx",
  start: (init: SleeveWorkerInit) => SleeveWorkerBody,
): void {
  const report = (m: SleeveReport) => self.postMessage(m);
  self.onmessage = (e: MessageEvent<SleeveControl>) => {
    if (e.data.type !== "init") return;
    let body: SleeveWorkerBody;
    try {
      body = start(e.data);
    } catch (err) {
      report({ type: "error", role, message: String(err) });
      return;
    }
    let running = true;
    self.onmessage = (m: MessageEvent<SleeveControl>) => {
      if (m.data.type === "peers") body.setPeers(m.data.peers, m.data.broadcast, m.data.keys);
      else if (m.data.type === "stop") running = false;
    };
    report({ type: "ready", role });
    body.loop(() => running).then(
      () => report({ type: "stopped", role }),
      (err) => report({ type: "error", role, message: String(err) }),
    );
  };
}
