import assert from "node:assert/strict";
import { lastError } from "./daemon_log.ts";

Deno.test("lastError: the last error line's message and fields, without time and component", () => {
  const log = [
    '{"ts":"t","level":"info","msg":"IPAM started","component":"ipam"}',
    '{"ts":"t","level":"error","msg":"first","component":"daemon"}',
    '{"ts":"t","level":"error","msg":"cannot start","component":"daemon",' +
    '"error":"cannot run nft (install nftables)","code":7}',
    '{"ts":"t","level":"debug","msg":"stopping","component":"daemon"}',
    "",
  ].join("\n");
  assert.equal(lastError(log), "cannot start; error: cannot run nft (install nftables); code: 7");
});

Deno.test("lastError: without an error line, the last lines of a crash; an empty log says so", () => {
  const crash = [
    '{"ts":"t","level":"info","msg":"started","component":"daemon"}',
    "error: Uncaught (in promise) TypeError: boom",
    "    at a (file:///x.ts:1:1)",
  ].join("\n");
  assert.equal(
    lastError(crash),
    "error: Uncaught (in promise) TypeError: boom\nat a (file:///x.ts:1:1)",
  );
  assert.equal(lastError(""), "(nothing in its log)");
  assert.equal(lastError("null\n42\n"), "null\n42");
});
