/**
 * Requests waiting for consensus or space: each is tried again after every change of the
 * allocator (retry) and answered once decided, or with its last answer when its wait ends.
 */
import type { Outcome } from "./types.ts";

export type WaitKind = "allocate" | "claim";

interface Waiting {
  kind: WaitKind;
  attempt: () => Outcome;
  done: (r: Outcome) => void;
}

export class WaitingRequests {
  readonly #entries = new Set<Waiting>();

  /** Runs `attempt` now and again on every retry() until it is decided or `waitMs` ends. */
  wait(kind: WaitKind, attempt: () => Outcome, waitMs: number): Promise<Outcome> {
    const first = attempt();
    if (first.ok || !("wait" in first)) return Promise.resolve(first);
    return new Promise((resolve) => {
      let last: Outcome = first;
      const entry: Waiting = {
        kind,
        attempt: () => (last = attempt()),
        done: (r) => {
          clearTimeout(timer);
          this.#entries.delete(entry);
          resolve(r);
        },
      };
      const timer = setTimeout(() => entry.done(last), waitMs);
      this.#entries.add(entry);
    });
  }

  /** Tries every waiting request again; answers those now decided. */
  retry(): void {
    for (const p of [...this.#entries]) {
      const r = p.attempt();
      if (r.ok || !("wait" in r)) p.done(r);
    }
  }

  /** Answers every waiting request with "wait: `reason`" (the service is stopping). */
  failAll(reason: string): void {
    for (const p of [...this.#entries]) p.done({ ok: false, wait: reason });
  }

  counts(): { allocates: number; claims: number } {
    let allocates = 0, claims = 0;
    for (const p of this.#entries) p.kind === "claim" ? claims++ : allocates++;
    return { allocates, claims };
  }
}
