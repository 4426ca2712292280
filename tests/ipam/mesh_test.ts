/**
 * IPAM over the real mesh (TCP on 127.0.0.1, no root): three peers agree on the split by
 * consensus, hand out distinct addresses with donations sent as real unicasts, and after one
 * peer stops, rmpeer on a survivor takes its space over.
 */
import assert from "node:assert/strict";
import { Registry } from "../../net/api/metrics.ts";
import { Logger } from "../../net/log.ts";
import { createIpam } from "../../net/ipam/component.ts";
import type { IpamService } from "../../net/ipam/service.ts";
import { Mesh } from "../../net/mesh/router.ts";
import { FAST_MESH_TIMING } from "../../net/mesh/testing/fast_timing.ts";
import { call } from "./routes.ts";

const quiet = new Logger({ sink: { write() {} }, json: true });

async function until(what: string, cond: () => boolean, ms = 8_000) {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("IPAM over the real mesh: consensus, donations, rmpeer", async () => {
  const meshes: Mesh[] = [];
  const svcs: IpamService[] = [];
  try {
    for (let i = 1; i <= 3; i++) {
      const mesh = new Mesh({
        name: `0e:00:00:00:00:0${i}`,
        nickname: `m${i}`,
        host: "127.0.0.1",
        port: 0,
        password: null,
        connLimit: 10,
        peers: meshes.length ? [`127.0.0.1:${meshes[0].port}`] : [],
        timing: FAST_MESH_TIMING,
        log: quiet,
      });
      mesh.start();
      meshes.push(mesh);
      svcs.push(createIpam({
        range: "10.49.0.0/24",
        init: "consensus=3",
        datadir: null,
        mesh,
        registry: new Registry(),
        log: quiet,
        waitMs: 8_000,
        tickMs: 50,
      }));
    }
    // Skewed: peer 0 needs more than its third (85), so space moves by donation.
    const got = await Promise.all(
      Array.from(
        { length: 150 },
        (_, i) => call(svcs[i % 5 < 3 ? 0 : (i % 5) - 2], "POST", `/ip/k${i}`),
      ),
    );
    for (const r of got) assert.equal(r.status, 200, r.text);
    assert.equal(new Set(got.map((r) => r.text)).size, 150);
    assert.equal(svcs[0].allocations().length, 90);

    const gone = meshes[2].self;
    svcs[2].stop();
    await meshes[2].stop();
    await until(
      "peer 3 unreachable",
      () => !meshes[0].peers().find((p) => p.name === gone)?.reachable,
    );
    const rm = await call(svcs[0], "DELETE", `/peer/${gone}`);
    assert.equal(rm.status, 200, rm.text);
    assert.match(rm.text, new RegExp(`^\\d+ IPs taken over from ${gone}\\n$`));
    const more = await Promise.all(
      Array.from({ length: 80 }, (_, i) => call(svcs[i % 2], "POST", `/ip/more${i}`)),
    );
    for (const r of more) assert.equal(r.status, 200, r.text);
    // The dead peer's addresses are free again; the survivors' are all distinct.
    const live = [...got.filter((_, i) => i % 5 !== 4), ...more].map((r) => r.text);
    assert.equal(live.length, 200);
    assert.equal(new Set(live).size, 200);
    const taken = Number(rm.text.split(" ")[0]);
    assert.ok(taken > 0);
  } finally {
    for (const s of svcs) s.stop();
    await Promise.all(meshes.map((m) => m.stop()));
  }
});
