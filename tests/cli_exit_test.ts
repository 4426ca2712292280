/**
 * The daemon's exit code at a failed start follows the error's kind (cli/command.ts exitCodeFor):
 * what the operator must fix in its configuration exits 2, as a bad flag does; anything else 1.
 * Run as the real binary, without root (the failures happen before any network set-up).
 */
import assert from "node:assert/strict";
import { runWeavets } from "./harness/binary.ts";

const ENV = { PATH: "/usr/bin:/bin" };

function daemonArgs(datadir: string, port: number): string[] {
  return [
    "daemon",
    `--datadir=${datadir}`,
    "--http-addr=127.0.0.1:0",
    "--host=127.0.0.1",
    `--port=${port}`,
    "--name=02:00:00:00:e1:5e",
    "--no-fastdp",
    "--no-npc",
  ];
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("cli exit: a corrupt signing key (configuration) exits 2 saying what to do", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "e15-" });
  try {
    Deno.writeTextFileSync(`${dir}/signing-key`, "garbage\n", { mode: 0o600 });
    const r = await runWeavets(daemonArgs(dir, freePort()), { env: ENV, clearEnv: true });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /cannot start.*signing-key is not a signing key.*Restore it/s);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cli exit: negative control — a port held by another process (a conflict) exits 1", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "e15-" });
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (held.addr as Deno.NetAddr).port;
    const r = await runWeavets(daemonArgs(dir, port), { env: ENV, clearEnv: true });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /refusing to start/);
  } finally {
    held.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
