import assert from "node:assert/strict";
import { NOT_INSTALLED, runCommand } from "./command.ts";

Deno.test("runCommand: stdin fed when given, /dev/null when not; output and exit code", async () => {
  assert.deepEqual(await runCommand("cat", [], "a\nb\n"), {
    code: 0,
    stdout: "a\nb\n",
    stderr: "",
  });
  assert.deepEqual(await runCommand("cat", []), { code: 0, stdout: "", stderr: "" });
  const r = await runCommand("sh", ["-c", "echo out; echo err >&2; exit 3"]);
  assert.deepEqual(r, { code: 3, stdout: "out\n", stderr: "err\n" });
});

Deno.test("runCommand: a program not on PATH is 127 with its name, not a rejection", async () => {
  const r = await runCommand("weavets-no-such-tool", ["x"], "ignored");
  assert.deepEqual(r, {
    code: NOT_INSTALLED,
    stdout: "",
    stderr: "weavets-no-such-tool: not installed",
  });
  // Other failures to start it still reject: a directory is not a program.
  await assert.rejects(runCommand("/", []));
});
