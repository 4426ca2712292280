import assert from "node:assert/strict";
import fc from "fast-check";
import { ifNameProblem } from "../net/linux/names.ts";
import { hostVethName } from "./names.ts";

Deno.test("names: host veth names are vethwepl + 7 stable characters, valid for Linux", () => {
  const id = "4f1c0a2b9e8d7c6b5a4f1c0a2b9e8d7c6b5a4f1c0a2b9e8d7c6b5a4f1c0a2b9e";
  const a = hostVethName(id, "eth0");
  assert.match(a, /^vethwepl[0-9a-v]{7}$/);
  assert.equal(a, hostVethName(id, "eth0"));
  assert.notEqual(a, hostVethName(id, "net1"));
  fc.assert(fc.property(fc.string({ minLength: 1 }), fc.string(), (c, i) => {
    const n = hostVethName(c, i);
    return n.length === 15 && ifNameProblem(n) === undefined;
  }));
});

Deno.test("names: 1000 container ids give 1000 distinct host names", () => {
  const names = new Set<string>();
  for (let i = 0; i < 1000; i++) names.add(hostVethName(`container-${i}`, "eth0"));
  assert.equal(names.size, 1000);
});
