import assert from "node:assert/strict";
import { MAX_PEERS, meshRoutes, readPeerForm } from "./mesh_routes.ts";

const form = (body: string, query = "") =>
  new Request(`http://x/connect${query}`, {
    method: "POST",
    body,
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });

Deno.test("mesh routes: peers from the query and the body, as Go's r.Form", async () => {
  assert.deepEqual(await readPeerForm(form("peer=a&peer=b:7000&replace=true", "?peer=q")), {
    peers: ["q", "a", "b:7000"],
    replace: true,
  });
  assert.deepEqual(await readPeerForm(form("", "?peer=q&replace=false")), {
    peers: ["q"],
    replace: false,
  });
  const json = new Request("http://x/connect", {
    method: "POST",
    body: JSON.stringify({ peer: "a", replace: true }),
    headers: { "content-type": "application/json" },
  });
  assert.deepEqual(await readPeerForm(json), { peers: ["a"], replace: true });
});

Deno.test("mesh routes: a forged body costs a 400, never a crash or a huge target list", async () => {
  let set: string[] | undefined;
  const routes = meshRoutes({
    status: () => ({ targets: [] }),
    configuredTargets: () => [],
    setConfiguredTargets: (a) => void (set = a),
  });
  const connect = routes.find((r) => r.path === "/connect")!;
  const many = Array.from({ length: MAX_PEERS + 1 }, (_, i) => `peer=10.0.${i >> 8}.${i & 255}`);
  const r1 = await connect.handle(form(many.join("&")), {});
  assert.equal(r1.status, 400);
  assert.match(await r1.text(), /at most 1000 peers/);
  for (const body of ["{", '{"peer": 5}', '{"peer": ["a"], "extra": 1}']) {
    const r = await connect.handle(
      new Request("http://x/connect", {
        method: "POST",
        body,
        headers: { "content-type": "application/json" },
      }),
      {},
    );
    assert.equal(r.status, 400, body);
    assert.match(await r.text(), /^unable to parse form: /);
  }
  assert.equal(set, undefined, "nothing changed");
  // The control: a valid call changes the targets.
  assert.equal((await connect.handle(form("peer=10.0.0.1"), {})).status, 200);
  assert.deepEqual(set, ["10.0.0.1"]);
});
