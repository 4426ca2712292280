/**
 * Test helper process: the daemon core with only the IPAM component and fast mesh timings, on
 * loopback, until killed (no root, no data plane: tests that exercise IPAM alone, many times).
 * Prints {"http": PORT or socket path, "mesh": PORT} once it listens. IPAM_HTTP_ADDR sets the API
 * address (default 127.0.0.1:0; an absolute path is a Unix socket). tests/ipam/netns_e2e_test.ts
 * covers the real `weavets daemon`.
 *   deno run -A tests/ipam/ipam_daemon.ts NAME DATADIR INIT RANGE [PEER...]
 */
import { Logger } from "../../net/log.ts";
import { startDaemon } from "../../net/daemon/daemon.ts";
import { ipamComponent } from "../../net/ipam/component.ts";
import { FAST_MESH_TIMING } from "../../net/mesh/testing/fast_timing.ts";

const [name, datadir, init, range, ...peers] = Deno.args;
const log = new Logger({ json: true, level: "warn" });
const d = await startDaemon({
  name,
  nickname: name.slice(-2),
  host: "127.0.0.1",
  port: 0,
  httpAddr: Deno.env.get("IPAM_HTTP_ADDR") ?? "127.0.0.1:0",
  metricsAddr: null,
  datadir,
  password: null,
  connLimit: 10,
  peers,
}, {
  log,
  components: [ipamComponent({ range, init, datadir, log, waitMs: 10_000, tickMs: 50 })],
  timing: FAST_MESH_TIMING,
});
const http = "path" in d.httpAddr ? d.httpAddr.path : d.httpAddr.port;
console.log(JSON.stringify({ http, mesh: d.mesh.port }));
