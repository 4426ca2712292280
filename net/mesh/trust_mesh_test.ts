/**
 * --trusted-subnets through real meshes on loopback: each end's subnets decide its half, the
 * handshake carries it, and Mesh.trusted (MeshView) is true only when both halves are.
 */
import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { Mesh } from "./router.ts";
import { FAST_MESH_TIMING } from "./testing/fast_timing.ts";

function mesh(i: number, trustedSubnets: string[], peers: string[] = []): Mesh {
  const m = new Mesh({
    name: `02:00:00:00:00:0${i}`,
    nickname: `t${i}`,
    host: "127.0.0.1",
    port: 0,
    password: "trusted subnets",
    connLimit: 10,
    peers,
    trustedSubnets,
    timing: FAST_MESH_TIMING,
    log: new Logger({ json: true, level: "error", sink: { write: () => {} } }),
  });
  m.start();
  return m;
}

async function connected(a: Mesh, b: Mesh): Promise<void> {
  const t0 = Date.now();
  while (a.connectionCount() < 1 || b.connectionCount() < 1) {
    if (Date.now() - t0 > 10_000) throw new Error("no connection within 10 s");
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("mesh trust: mutual only when both ends' subnets hold the other's address", async () => {
  const cases: Array<{ a: string[]; b: string[]; mutual: boolean; why: string }> = [
    { a: ["127.0.0.0/8"], b: ["127.0.0.1/32"], mutual: true, why: "both trust" },
    { a: [], b: ["0.0.0.0/0"], mutual: false, why: "b trusts everyone, a nobody" },
    { a: ["127.0.0.0/8"], b: ["10.0.0.0/8"], mutual: false, why: "b's subnets miss a" },
    { a: [], b: [], mutual: false, why: "no subnets" },
  ];
  for (const c of cases) {
    const a = mesh(1, c.a);
    const b = mesh(2, c.b, [`127.0.0.1:${a.port}`]);
    try {
      await connected(a, b);
      assert.equal(a.trusted(b.self), c.mutual, `a's view: ${c.why}`);
      assert.equal(b.trusted(a.self), c.mutual, `b's view: ${c.why}`);
      assert.equal(a.trusted("02:00:00:00:00:09"), false, "no connection: not trusted");
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }
});
