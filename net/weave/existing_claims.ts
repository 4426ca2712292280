/**
 * The daemon component that claims the addresses in use on this node at start
 * (net/weave/existing.ts says what and why). Claims are queued at start, before the CNI server
 * serves pod events; a claim still waiting when IPAM's wait ends (no consensus yet) is queued
 * again. Status shows what was claimed and what IPAM refused.
 */
import { parseIPv4 } from "../addr/ipv4.ts";
import type { StatusSection } from "../mesh/status_text.ts";
import type { Logger } from "../log.ts";
import { describeCause } from "../cause.ts";
import { type CachedAttachment, type Claim, type FoundAddress, planClaims } from "./existing.ts";

type Outcome =
  | { ok: true; ip: number }
  | { ok: false; wait: string }
  | { ok: false; status: number; error: string };

export interface ClaimingIpam {
  claim(key: { id: string; ifname: string }, ip: number): Promise<Outcome>;
  /** What IPAM holds already (a restart: the pods' own allocations). */
  allocations(): Array<{ ip: number }>;
  /** Claims and, when refused, reports a conflict (IPAM's status, metric and log). */
  claimExisting(key: { id: string; ifname: string }, ip: number): Promise<Outcome>;
}

export interface ExistingClaimsOptions {
  bridge: string;
  ipam: ClaimingIpam;
  log: Logger;
  /** Reads of the node (existing_scan.ts in the daemon; fakes in tests). */
  scan: {
    bridgeCidrs(bridge: string): string[];
    pods(bridge: string): FoundAddress[];
    cache(): CachedAttachment[];
  };
}

export interface ExistingClaims {
  readonly name: "existing-addresses";
  start(): void;
  stop(): void;
  ready(): string | null;
  status(): StatusSection;
  report(): unknown;
  /** Resolves when every claim is decided (tests). */
  settled(): Promise<void>;
}

export function createExistingClaims(o: ExistingClaimsOptions): ExistingClaims {
  let planned: Claim[] = [];
  const claimed: Claim[] = [];
  const refused: Array<Claim & { why: string }> = [];
  let stopped = false;
  let all: Promise<void> = Promise.resolve();

  async function one(c: Claim): Promise<void> {
    const ip = parseIPv4(c.ip);
    // Held already, under whatever key (after a restart, pods' own CNI allocations): nothing to
    // claim, and no conflict either.
    if (o.ipam.allocations().some((a) => a.ip === ip)) {
      claimed.push(c);
      return;
    }
    while (!stopped) {
      let r: Outcome;
      try {
        r = await o.ipam.claim(c.key, ip);
      } catch (e) {
        refused.push({ ...c, why: describeCause(e) });
        return;
      }
      if (r.ok) {
        claimed.push(c);
        return;
      }
      if ("wait" in r) {
        // IPAM's wait ended before consensus: queue it again (after a pause, so an IPAM that
        // answers "wait" at once is not asked in a busy loop).
        await new Promise((resolve) => setTimeout(resolve, 200));
        continue;
      }
      await o.ipam.claimExisting(c.key, ip); // reports the conflict
      refused.push({ ...c, why: r.error });
      return;
    }
  }

  return {
    name: "existing-addresses",
    start() {
      const pods = o.scan.pods(o.bridge);
      planned = planClaims(o.scan.bridgeCidrs(o.bridge), pods, pods.length ? o.scan.cache() : []);
      if (planned.length > 0) {
        o.log.info("claiming the addresses in use on this node", {
          bridge: o.bridge,
          addresses: planned.map((c) => `${c.ip} (${c.key.id})`),
        });
      }
      // Not awaited: the claims wait for IPAM's consensus, which needs the daemon running.
      all = Promise.all(planned.map(one)).then(() => {
        if (planned.length > 0) {
          o.log.info("addresses in use on this node claimed", {
            claimed: claimed.length,
            refused: refused.length,
          });
        }
      });
    },
    stop() {
      stopped = true;
    },
    ready() {
      const left = planned.length - claimed.length - refused.length;
      return left > 0 ? `claiming ${left} address(es) in use on this node` : null;
    },
    status(): StatusSection {
      return {
        service: "existing addresses",
        fields: [
          ["Claimed", `${claimed.length} of ${planned.length}`],
          ...refused.map((r) => ["Refused", `${r.ip} (${r.key.id}): ${r.why}`] as [string, string]),
        ],
      };
    },
    report() {
      return { planned, claimed, refused };
    },
    settled: () => all,
  };
}
