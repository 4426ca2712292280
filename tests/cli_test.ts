import assert from "node:assert/strict";
import { runWeavets } from "./harness/binary.ts";
import { VERSION } from "../version.ts";

const STRIPPED = { PATH: "/usr/bin:/bin" };

Deno.test("cli: version runs with a stripped environment", async () => {
  const r = await runWeavets(["version"], { env: STRIPPED, clearEnv: true });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^weavets ${VERSION.replaceAll(".", "\\.")} `));
});

Deno.test("cli: no command, unknown command and unknown flag print usage and exit 2", async () => {
  for (const args of [[], ["bogus"], ["--bogus"]]) {
    const r = await runWeavets(args, { env: STRIPPED, clearEnv: true });
    assert.equal(r.code, 2, `args ${JSON.stringify(args)}`);
    assert.match(r.stderr, /usage: weavets <command>/);
    assert.equal(r.stdout, "");
  }
});

Deno.test("cli: help goes to stdout and exits 0", async () => {
  const r = await runWeavets(["help"], { env: STRIPPED, clearEnv: true });
  assert.equal(r.code, 0);
  assert.match(r.stdout, /commands:\n {2}daemon/);
});

Deno.test("cli: CNI_COMMAND with no arguments selects CNI plugin mode", async () => {
  const r = await runWeavets([], {
    env: { ...STRIPPED, CNI_COMMAND: "VERSION" },
    clearEnv: true,
    stdin: '{"cniVersion":"1.0.0"}',
  });
  // Whatever the plugin answers, it is the plugin answering, not the usage text.
  assert.doesNotMatch(r.stderr, /usage: weavets <command>/);
  assert.doesNotMatch(r.stdout, /usage: weavets <command>/);
});
