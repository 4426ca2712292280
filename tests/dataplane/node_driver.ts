/**
 * Test driver: runs the real data-plane component on one node (started with `ip netns exec NODE`)
 * with a stand-in mesh over stdio, so tests exercise the production code without the daemon.
 * stdin (JSON lines):  {"t":"peers","peers":[PeerInfo],"keys"?:{NAME:{"id":B64,"secret":B64}}}
 *                      | {"t":"gossip","from":NAME,"data":B64}
 *                      | {"t":"sync"} (broadcast full state, as the mesh does for a new
 *                      connection) | {"t":"status"} | {"t":"stop"}
 * stdout (JSON lines): {"t":"ready","status":…} | {"t":"broadcast","data":B64}
 *                      | {"t":"status","status":…} | {"t":"stopped"}
 *
 * With a password, the stand-in plays the control connections' key exchange too: `keys` are the
 * per-peer data keys (MeshView.dataKey) that cluster.ts derives for the test (testDataKey), the
 * same on both ends of a pair and new whenever either end restarts — a test double for the real
 * sessions, which tests/dataplane/daemon_driver.ts and the mesh's own tests cover.
 */
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { createDataplane } from "../../net/dataplane/dataplane.ts";
import type { DataKey, Gossiper, MeshView, PeerInfo } from "../../net/mesh/gossip_channel.ts";
import { jsonLines } from "./json_lines.ts";
import { TestKeyring } from "../../net/mesh/testing/keyring.ts";
import { dataplaneOptions, driverConfig } from "./driver_config.ts";

const cfg = driverConfig();
const out = (o: unknown) => console.log(JSON.stringify(o));

let peers: PeerInfo[] = [{ name: cfg.self, nickname: "self", reachable: true }];
let keys = new Map<string, DataKey>();
const listeners = new Set<() => void>();
let gossiper: Gossiper | undefined;
const mesh: MeshView = {
  // Every driver process derives the same key per peer name (no key exchange needed).
  ...new TestKeyring().view(cfg.self),
  self: cfg.self,
  peers: () => peers,
  dataKey: (peer) => keys.get(peer),
  onChange(cb) {
    listeners.add(cb);
    return () => listeners.delete(cb);
  },
  channel(_name, g) {
    gossiper = g;
    return {
      broadcast: (update) => out({ t: "broadcast", data: encodeBase64(update) }),
      unicast: () => false,
    };
  },
};

const dp = createDataplane({ ...dataplaneOptions(cfg), pollMs: 300, reconcileMs: 2000 });
await dp.start(mesh);
out({ t: "ready", status: dp.report() });

for await (const m of jsonLines(Deno.stdin.readable)) {
  if (m.t === "peers") {
    peers = m.peers;
    keys = new Map(
      Object.entries((m.keys ?? {}) as Record<string, { id: string; secret: string }>).map((
        [peer, k],
      ) => [peer, { id: decodeBase64(k.id), secret: decodeBase64(k.secret) }]),
    );
    for (const cb of listeners) cb();
  } else if (m.t === "gossip") gossiper?.onGossip(m.from, decodeBase64(m.data));
  else if (m.t === "sync" && gossiper) {
    out({ t: "broadcast", data: encodeBase64(gossiper.fullState()) });
  } else if (m.t === "status") out({ t: "status", status: dp.report() });
  else if (m.t === "stop") {
    await dp.stop();
    out({ t: "stopped" });
    Deno.exit(0);
  }
}
await dp.stop();
