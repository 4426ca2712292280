/**
 * --trusted-subnets through real meshes on loopback: each end's subnets decide its half, the
 * handshake carries it, and Mesh.trusted (MeshView) is true only when both halves are. The
 * decision itself is trust_test's; this shows it crosses a real handshake.
 */
import assert from "node:assert/strict";
import { fullMesh, Loopback } from "./testing/loopback.ts";

Deno.test("mesh trust: mutual only when both ends' subnets hold the other's address", async () => {
  const cases: Array<{ a: string[]; b: string[]; mutual: boolean; why: string }> = [
    { a: ["127.0.0.0/8"], b: ["127.0.0.1/32"], mutual: true, why: "both trust" },
    { a: [], b: ["0.0.0.0/0"], mutual: false, why: "b trusts everyone, a nobody" },
    { a: ["127.0.0.0/8"], b: ["10.0.0.0/8"], mutual: false, why: "b's subnets miss a" },
    { a: [], b: [], mutual: false, why: "no subnets" },
  ];
  for (const c of cases) {
    const t = new Loopback();
    try {
      const password = "trusted subnets";
      const a = t.node(1, { password, trustedSubnets: c.a });
      const b = t.node(2, { password, trustedSubnets: c.b, peers: [a.addr] });
      await t.until("a-b", () => fullMesh([a, b]));
      assert.equal(a.mesh.trusted(b.mesh.self), c.mutual, `a's view: ${c.why}`);
      assert.equal(b.mesh.trusted(a.mesh.self), c.mutual, `b's view: ${c.why}`);
      assert.equal(a.mesh.trusted("02:00:00:00:00:09"), false, "no connection: not trusted");
    } finally {
      await t.stop();
    }
  }
});
