/**
 * Connectivity matrices, as the upstream Kubernetes NetworkPolicy e2e tests write them
 * (test/e2e/network/netpol: a "reachability" truth table, all allowed by default, then
 * expectations by namespace and/or pod on either side), and the probe of every ordered pair of
 * pods for every protocol and port.
 */
import type { NpcCluster } from "./npc_cluster.ts";
import type { Proto } from "./probe.ts";

export interface Case {
  proto: Proto;
  port: number;
}

/** A side of an expectation: any pod, a namespace, or one pod. */
export interface Peer {
  namespace?: string;
  pod?: string;
}

const matches = (p: Peer, key: string) => {
  const [ns, name] = key.split("/");
  return (p.namespace === undefined || p.namespace === ns) &&
    (p.pod === undefined || p.pod === name);
};

export class Reachability {
  readonly #expected = new Map<string, boolean>();

  constructor(readonly pods: string[], allowed: boolean) {
    for (const a of pods) for (const b of pods) this.#expected.set(`${a} > ${b}`, allowed);
  }

  /** Every pair from a pod matching `from` to a pod matching `to`. */
  expect(from: Peer, to: Peer, allowed: boolean): this {
    for (const a of this.pods) {
      for (const b of this.pods) {
        if (matches(from, a) && matches(to, b)) this.#expected.set(`${a} > ${b}`, allowed);
      }
    }
    return this;
  }

  get(from: string, to: string): boolean {
    return this.#expected.get(`${from} > ${to}`)!;
  }
}

/**
 * Probes every ordered pair of different pods for each case and returns the differences from
 * `want` (one per line), empty when the network matches the table.
 */
export async function mismatches(
  n: NpcCluster,
  cases: Case[],
  want: (c: Case) => Reachability,
  timeoutMs = 1500,
): Promise<string[]> {
  const probes: Array<Promise<string | undefined>> = [];
  for (const c of cases) {
    const r = want(c);
    for (const a of n.pods) {
      for (const b of n.pods) {
        if (a === b) continue; // loopback: undefined upstream too
        probes.push(
          n.prober.probe(a.pod.netns, b.ip, c.proto, c.port, timeoutMs).then((got) => {
            const exp = r.get(a.key, b.key);
            return got === exp
              ? undefined
              : `${a.key} -> ${b.key} ${c.proto}/${c.port}: ${got ? "allowed" : "blocked"}, ` +
                `expected ${exp ? "allowed" : "blocked"}`;
          }),
        );
      }
    }
  }
  return (await Promise.all(probes)).filter((x): x is string => x !== undefined).sort();
}

/** Every protocol on every port the pods serve. */
export const ALL_CASES: Case[] = [
  { proto: "TCP", port: 80 },
  { proto: "TCP", port: 81 },
  { proto: "UDP", port: 80 },
  { proto: "UDP", port: 81 },
];
