import { Logger } from "./log.ts";
import assert from "node:assert/strict";

function capture(json: boolean, level: "debug" | "info" = "info") {
  const lines: string[] = [];
  const logger = new Logger({ json, level, sink: { write: (l) => lines.push(l) } });
  return { lines, logger };
}

Deno.test("log: JSON lines carry level, message and fields", () => {
  const { lines, logger } = capture(true);
  logger.with({ component: "mesh" }).info("connection established", { peer: "aa:bb" });
  assert.equal(lines.length, 1);
  const rec = JSON.parse(lines[0]);
  assert.equal(rec.level, "info");
  assert.equal(rec.msg, "connection established");
  assert.equal(rec.component, "mesh");
  assert.equal(rec.peer, "aa:bb");
});

Deno.test("log: levels below the threshold are dropped", () => {
  const { lines, logger } = capture(true, "info");
  logger.debug("noise");
  logger.warn("kept");
  assert.equal(lines.length, 1);
});

Deno.test("log: terminal form is one readable line; errors become messages", () => {
  const { lines, logger } = capture(false);
  logger.error("dial failed", { addr: "10.0.0.1:6783", err: new Error("refused now") });
  assert.equal(lines.length, 1);
  assert(lines[0].includes('ERROR dial failed addr=10.0.0.1:6783 err="refused now"'), lines[0]);
});

Deno.test("logger: setLevel reaches loggers derived before and after (the daemon's --log-level)", () => {
  const lines: string[] = [];
  const root = new Logger({ level: "info", json: true, sink: { write: (l) => lines.push(l) } });
  const before = root.with({ component: "a" });
  before.debug("hidden");
  assert.equal(lines.length, 0, "info: debug lines dropped");
  root.setLevel("debug");
  before.debug("shown");
  root.with({ component: "b" }).debug("shown too");
  assert.equal(lines.length, 2);
  root.setLevel("error");
  before.warn("hidden");
  assert.equal(lines.length, 2);
});
