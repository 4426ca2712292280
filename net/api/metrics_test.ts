import assert from "node:assert/strict";
import { Registry } from "./metrics.ts";

Deno.test("metrics: counters and gauges render in Prometheus text format", () => {
  const r = new Registry();
  const c = r.counter("weavets_connection_terminations_total", "Connections closed.");
  c.inc();
  c.inc({}, 2);
  const g = r.gauge("weavets_connections", "Connections by state.");
  g.set(3, { state: "established", encryption: "yes" });
  g.set(1, { state: "failed", encryption: "no" });
  r.gaugeFn("weavets_peers", "Known peers.", () => [{ value: 4 }]);
  const text = r.render();
  assert.match(
    text,
    /# TYPE weavets_connection_terminations_total counter\nweavets_connection_terminations_total 3\n/,
  );
  assert.match(text, /weavets_connections\{encryption="yes",state="established"\} 3/);
  assert.match(text, /weavets_connections\{encryption="no",state="failed"\} 1/);
  assert.match(text, /weavets_peers 4\n/);
});

Deno.test("metrics: label values are escaped; bad names and kind clashes are refused", () => {
  const r = new Registry();
  r.gauge("g", "h").set(1, { reason: 'say "hi"\n' });
  assert.match(r.render(), /g\{reason="say \\"hi\\"\\n"\} 1/);
  assert.throws(() => r.counter("bad-name", "h"));
  assert.throws(() => r.counter("g", "h"));
});
