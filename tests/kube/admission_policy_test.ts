/**
 * deploy/weavets.yaml's ValidatingAdmissionPolicy, evaluated with a CEL interpreter
 * (@marcbachmann/cel-js) on the admission requests that matter: weavets' pod may publish its peer
 * key on its own Node, and nothing else. This checks the policy's logic, not the API server's
 * admission machinery (the manifest tests check its schema).
 */
import assert from "node:assert/strict";
import { evaluate } from "@marcbachmann/cel-js";
import { REPO_ROOT } from "../harness/binary.ts";
import { parseManifest } from "./k8s_schema.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const policy: Any = parseManifest(Deno.readTextFileSync(`${REPO_ROOT}/deploy/weavets.yaml`))
  .find((d) => d.kind === "ValidatingAdmissionPolicy");
const SA = "system:serviceaccount:kube-system:weavets";
const KEY = "weavets.dev/peer-key";

const node = (
  name: string,
  annotations?: Record<string, string>,
  labels?: Record<string, string>,
) => ({
  metadata: { name, ...(annotations ? { annotations } : {}), ...(labels ? { labels } : {}) },
  spec: { podCIDR: "10.0.0.0/24" },
});

/** Which validations fail (their messages), or "not matched" when the policy does not apply. */
function admit(
  req: { user?: string; nodeName?: string | null; old: Any; object: Any },
): string[] | "not matched" {
  const extra = req.nodeName === null
    ? {}
    : { "authentication.kubernetes.io/node-name": [req.nodeName ?? req.object.metadata.name] };
  const ctx = {
    request: { userInfo: { username: req.user ?? SA, extra } },
    object: req.object,
    oldObject: req.old,
  };
  for (const m of policy.spec.matchConditions) {
    if (evaluate(m.expression, ctx) !== true) return "not matched";
  }
  return policy.spec.validations
    .filter((v: Any) => evaluate(v.expression, ctx) !== true)
    .map((v: Any) => v.message);
}

const claim = '{"peer":"0a:00:00:00:00:01","key":"' + "k".repeat(43) + '"}';

Deno.test("admission policy: weavets may publish (and replace) its peer key on its own Node", () => {
  const old = node("n1", { "other.example/a": "1" }, { zone: "a" });
  assert.deepEqual(
    admit({ old, object: node("n1", { "other.example/a": "1", [KEY]: claim }, { zone: "a" }) }),
    [],
  );
  const published = node("n1", { "other.example/a": "1", [KEY]: claim }, { zone: "a" });
  assert.deepEqual(
    admit({
      old: published,
      object: node("n1", { "other.example/a": "1", [KEY]: "x" }, { zone: "a" }),
    }),
    [],
  );
  assert.deepEqual(admit({ old: node("n1"), object: node("n1", { [KEY]: claim }) }), []);
});

Deno.test("admission policy: not another Node, nor anything else on its own", () => {
  const old = node("n2", { "other.example/a": "1" }, { zone: "a" });
  const own = "weavets may change only the Node its pod runs on";
  const ann = "weavets may change only the weavets.dev/peer-key annotation of its Node";
  const rest = "weavets may not change a Node's spec or labels";
  assert.deepEqual(
    admit({
      nodeName: "n1",
      old,
      object: node("n2", { "other.example/a": "1", [KEY]: claim }, { zone: "a" }),
    }),
    [own],
  );
  // An old token that does not name its node is refused too.
  assert.deepEqual(
    admit({
      nodeName: null,
      old,
      object: node("n2", { "other.example/a": "1", [KEY]: claim }, { zone: "a" }),
    }),
    [own],
  );
  assert.deepEqual(admit({ old, object: node("n2", { "other.example/a": "2" }, { zone: "a" }) }), [
    ann,
  ]);
  assert.deepEqual(admit({ old, object: node("n2", {}, { zone: "a" }) }), [ann]);
  assert.deepEqual(
    admit({ old, object: node("n2", { "other.example/a": "1", "x/y": "z" }, { zone: "a" }) }),
    [ann],
  );
  assert.deepEqual(admit({ old, object: node("n2", { "other.example/a": "1" }, { zone: "b" }) }), [
    rest,
  ]);
  assert.deepEqual(admit({ old, object: node("n2", { "other.example/a": "1" }) }), [rest]);
  const unschedulable = {
    ...node("n2", { "other.example/a": "1" }, { zone: "a" }),
    spec: { unschedulable: true },
  };
  assert.deepEqual(admit({ old, object: unschedulable }), [rest]);
});

Deno.test("admission policy: other users (the kubelet, an operator) are not its business", () => {
  const old = node("n1");
  assert.equal(
    admit({ user: "system:node:n1", old, object: node("n1", {}, { a: "b" }) }),
    "not matched",
  );
});
