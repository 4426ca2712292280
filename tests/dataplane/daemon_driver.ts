/**
 * Test driver: the real daemon (mesh, HTTP API) with the data-plane component plugged in, as
 * cli/daemon.ts will compose it, started with `ip netns exec NODE`. Same stdio protocol as
 * node_driver.ts for the test harness, except that gossip travels over the real mesh, so "peers",
 * "gossip" and "sync" are ignored.
 */
import { Buffer } from "node:buffer";
import { SIGNING_KEY_FILE } from "../../net/mesh/key_files.ts";
import { TestKeyring } from "../../net/mesh/testing/keyring.ts";
import { createDataplane } from "../../net/dataplane/dataplane.ts";
import { startDaemon } from "../../net/daemon/daemon.ts";
import { jsonLines } from "./json_lines.ts";
import { dataplaneOptions, driverConfig } from "./driver_config.ts";

const cfg = driverConfig();
if (cfg.faultDir) Deno.env.set("WTD_FAULT_DIR", cfg.faultDir); // for fault_worker.ts
const out = (o: unknown) => console.log(JSON.stringify(o));
const datadir = Deno.makeTempDirSync({ prefix: "wtd-daemon-" });
// A real node keeps its signing key in its data dir across restarts (its peers refuse a new key
// for its name); this driver's data dir is new each start, so the key is derived from the name.
Deno.writeTextFileSync(
  `${datadir}/${SIGNING_KEY_FILE}`,
  Buffer.from(new TestKeyring().key(cfg.self).seed()).toString("base64url") + "\n",
  { mode: 0o600 },
);

// Composed as cli/daemon.ts does: production's adoption grace, not the stand-in's short one.
const dp = createDataplane({ ...dataplaneOptions(cfg), adoptGraceMs: undefined });
const daemon = await startDaemon({
  name: cfg.self,
  nickname: cfg.self,
  host: cfg.underlayAddr,
  port: 6783,
  httpAddr: "127.0.0.1:6784",
  metricsAddr: "127.0.0.1:6782",
  datadir,
  password: cfg.password ?? null,
  connLimit: 100,
  peers: cfg.peers ?? [],
  trustedSubnets: cfg.trustedSubnets ?? [],
}, { components: [dp], timing: { heartbeatMs: 1000, deadMs: 4000 } });
out({ t: "ready", status: dp.report() });

async function stop(): Promise<never> {
  await daemon.stop();
  Deno.removeSync(datadir, { recursive: true });
  out({ t: "stopped" });
  Deno.exit(0);
}

for await (const m of jsonLines(Deno.stdin.readable)) {
  if (m.t === "status") {
    // Through the daemon's HTTP API, as `weavets status` would read it.
    const r = await fetch("http://127.0.0.1:6784/status/dataplane");
    out({ t: "status", status: await r.json() });
  } else if (m.t === "stop") await stop();
}
await stop();
