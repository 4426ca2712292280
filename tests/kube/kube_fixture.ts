/**
 * Shared set-up of the `startKube` tests (kube_test, kube_reclaim_test): a fake API server with
 * nodes, peers started against it with fast timings and a captured log, what the peer list holds.
 */
import { Logger } from "../../net/log.ts";
import { KubeClient, type KubeHandle, PEERS_ANNOTATION, startKube } from "../../net/kube/mod.ts";
import { FakeApiServer, makePki, type Pki } from "./fake_apiserver.ts";

let pkiCache: Promise<Pki> | undefined;
export const pki = () => (pkiCache ??= makePki());

export const FAST = {
  backoffBaseMs: 20,
  backoffCapMs: 200,
  reclaimJitterMs: 20,
  resyncMs: 500,
  readyPollMs: 10,
};

/** Captures log lines as parsed JSON. */
export function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const log = new Logger({
    json: true,
    level: "debug",
    sink: {
      write(l) {
        raw.push(l);
        lines.push(JSON.parse(l));
      },
    },
  });
  return { log, lines, raw };
}

export async function until(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Peer {
  name: string;
  node: string;
  targets: string[][];
  rmpeers: string[];
  resets: number;
  ready: boolean;
  client: KubeClient;
  handle?: KubeHandle;
  logs: ReturnType<typeof capture>;
}

export async function startPeer(
  api: FakeApiServer,
  name: string,
  node: string,
  opts: { rmpeer?: (p: string) => Promise<number>; ready?: boolean } = {},
): Promise<Peer> {
  const p: Peer = {
    name,
    node,
    targets: [],
    rmpeers: [],
    resets: 0,
    ready: opts.ready ?? true,
    client: new KubeClient({ server: api.url, caCerts: [(await pki()).caCert], token: api.token }),
    logs: capture(),
  };
  p.handle = await startKube({
    client: p.client,
    nodeName: node,
    peerName: name,
    log: p.logs.log,
    onTargets: (t) => p.targets.push(t),
    rmpeer: async (dead) => {
      p.rmpeers.push(dead);
      return await (opts.rmpeer?.(dead) ?? Promise.resolve(7));
    },
    resetLocalState: () => {
      p.resets++;
      return Promise.resolve();
    },
    networkReady: () => p.ready,
    timing: FAST,
  });
  return p;
}

export async function stopAll(api: FakeApiServer, peers: Peer[]): Promise<void> {
  for (const p of peers) {
    await p.handle?.stop();
    p.client.close();
  }
  await api.close();
}

export async function apiWith(nodes: Array<[string, string]>): Promise<FakeApiServer> {
  const api = new FakeApiServer(await pki());
  for (const [n, ip] of nodes) api.addNode(n, ip);
  api.start();
  return api;
}

export function peersIn(api: FakeApiServer): string[] {
  const raw = api.configMap().metadata.annotations?.[PEERS_ANNOTATION];
  return raw
    ? JSON.parse(raw).peers.map((p: { peerName: string; nodeName: string }) =>
      `${p.peerName}@${p.nodeName}`
    )
    : [];
}

export function lockAnnotations(api: FakeApiServer): string[] {
  return Object.keys(api.configMap().metadata.annotations ?? {}).filter((k) =>
    k.includes("reclaim-")
  );
}
