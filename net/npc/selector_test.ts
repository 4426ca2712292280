import assert from "node:assert/strict";
import { formatSelector, matches, parseSelector, selectorKey } from "./selector.ts";

Deno.test("selectors: matchLabels and every operator, as apimachinery defines them", () => {
  const sel = (raw: Parameters<typeof parseSelector>[0]) => parseSelector(raw);
  const l = { app: "web", tier: "front" };
  assert.ok(matches(sel({}), {}));
  assert.ok(matches(sel({ matchLabels: { app: "web" } }), l));
  assert.ok(!matches(sel({ matchLabels: { app: "web", x: "y" } }), l));
  const expr = (operator: string, values?: string[]) =>
    sel({ matchExpressions: [{ key: "tier", operator, values }] });
  assert.ok(matches(expr("In", ["front", "back"]), l));
  assert.ok(!matches(expr("In", ["back"]), l));
  assert.ok(!matches(expr("In", ["front"]), { app: "web" }));
  assert.ok(matches(expr("NotIn", ["back"]), l));
  assert.ok(matches(expr("NotIn", ["front"]), { app: "web" }), "NotIn holds for an absent label");
  assert.ok(!matches(expr("NotIn", ["front"]), l));
  assert.ok(matches(expr("Exists"), l));
  assert.ok(!matches(expr("Exists"), {}));
  assert.ok(matches(expr("DoesNotExist"), {}));
  assert.ok(!matches(expr("DoesNotExist"), l));
});

Deno.test("selectors the API server rejects select nothing", () => {
  for (
    const e of [
      { key: "a", operator: "In", values: [] },
      { key: "a", operator: "NotIn" },
      { key: "a", operator: "Exists", values: ["x"] },
      { key: "a", operator: "Gt", values: ["1"] },
    ]
  ) {
    const s = parseSelector({ matchExpressions: [e] });
    assert.ok(s.invalid, JSON.stringify(e));
    assert.ok(!matches(s, { a: "x" }));
    assert.ok(!matches(s, {}));
  }
});

Deno.test("equal selectors share a key whatever the order of their parts", () => {
  const a = parseSelector({
    matchLabels: { x: "1", y: "2" },
    matchExpressions: [
      { key: "b", operator: "In", values: ["2", "1"] },
      { key: "a", operator: "Exists" },
    ],
  });
  const b = parseSelector({
    matchLabels: { y: "2", x: "1" },
    matchExpressions: [
      { key: "a", operator: "Exists" },
      { key: "b", operator: "In", values: ["1", "2", "1"] },
    ],
  });
  assert.equal(selectorKey(a), selectorKey(b));
  assert.notEqual(selectorKey(a), selectorKey(parseSelector({ matchLabels: { x: "1" } })));
  assert.equal(formatSelector(a), "x=1,y=2,a,b in (1,2)");
});
