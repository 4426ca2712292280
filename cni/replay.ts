/**
 * The daemon's side of releases kept by DEL while it was away (cni/pending.ts): replays them at
 * start and then every few seconds while any are left, each under its record's lock, and
 * removes a record once IPAM took it (or has nothing for it). A release IPAM cannot take yet
 * (not ready, awaiting consensus) stays for the next round.
 */
import type { Logger } from "../net/log.ts";
import { CniError, describeCause, ErrorCode } from "./errors.ts";
import { listPendingReleases, type PendingRelease, withPendingRelease } from "./pending.ts";

export const REPLAY_EVERY_MS = 5_000;

export interface Replayer {
  start(): void;
  stop(): Promise<void>;
  /** Releases waiting, and the oldest one's time (ISO), from the directory as it is now. */
  pending(): { count: number; oldest?: string };
  /** Runs one round now (tests; start() runs them on its own). */
  runOnce(): Promise<{ released: number; kept: number; dropped: number }>;
}

export function createReplayer(opts: {
  dir: string;
  log: Logger;
  /** Hands one release to IPAM; throws CniError 11 when IPAM cannot take it now. */
  release: (r: PendingRelease) => Promise<void>;
  everyMs?: number;
}): Replayer {
  const { dir, log } = opts;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = false;

  async function replayOne(name: string) {
    let outcome: "released" | "kept" | "dropped" = "kept";
    await withPendingRelease(dir, name, async (rec, remove) => {
      if (typeof rec === "string") {
        log.warn("dropped a pending release that is not a record", { file: name, cause: rec });
        remove();
        outcome = "dropped";
        return;
      }
      try {
        await opts.release(rec);
      } catch (e) {
        if (e instanceof CniError && e.code === ErrorCode.TryAgainLater) return;
        // A refusal (4xx) will not change by retrying.
        log.warn("IPAM refused a pending release: dropped it", { ...rec, error: describeCause(e) });
        remove();
        outcome = "dropped";
        return;
      }
      remove();
      outcome = "released";
      log.info("released an address kept while the daemon was away", { ...rec });
    });
    return outcome;
  }

  async function runOnce() {
    const counts = { released: 0, kept: 0, dropped: 0 };
    for (const { name } of listPendingReleases(dir)) counts[await replayOne(name)]++;
    return counts;
  }

  function schedule() {
    if (stopped) return;
    timer = setTimeout(() => {
      running = runOnce()
        .catch((e) => log.error("replaying pending releases failed", { error: describeCause(e) }))
        .finally(schedule);
    }, opts.everyMs ?? REPLAY_EVERY_MS);
  }

  return {
    start() {
      stopped = false;
      running = runOnce()
        .catch((e) => log.error("replaying pending releases failed", { error: describeCause(e) }))
        .finally(schedule);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
    pending() {
      try {
        const entries = listPendingReleases(dir);
        const first = entries.find((e) => typeof e.record !== "string")?.record;
        return { count: entries.length, oldest: (first as PendingRelease | undefined)?.since };
      } catch {
        return { count: 0 };
      }
    },
    runOnce,
  };
}
