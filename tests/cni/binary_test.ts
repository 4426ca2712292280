/**
 * The plugin binary's contract with a runtime, without root: the spec's error object on stdout
 * with the right code and a non-zero exit, diagnostics on stderr only, VERSION, `weavets cni`;
 * and what a hostile or broken input costs (a path as ipam.type, 50 MB on stdin).
 */
import assert from "node:assert/strict";
import { runWeavets, weavetsBin } from "../harness/binary.ts";

const BASE_ENV = {
  PATH: "/usr/bin:/bin",
  CNI_CONTAINERID: "abc",
  CNI_NETNS: "/run/netns/none",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/usr/lib/cni",
};
const CONF = JSON.stringify({ cniVersion: "1.0.0", name: "n", type: "weavets" });
const NO_IPAM = JSON.stringify({
  cniVersion: "1.0.0",
  name: "n",
  type: "weavets",
  ipam: { type: "no-such-ipam" },
});

async function run(env: Record<string, string>, stdin: string, args: string[] = []) {
  const r = await runWeavets(args, { env: { ...BASE_ENV, ...env }, clearEnv: true, stdin });
  return { ...r, json: r.stdout.trim() ? JSON.parse(r.stdout) : undefined };
}

Deno.test("cni binary: VERSION answers in the requested version with every supported one", async () => {
  const r = await run({ CNI_COMMAND: "VERSION", CNI_NETNS: "dummy" }, '{"cniVersion":"0.4.0"}');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.json, {
    cniVersion: "0.4.0",
    supportedVersions: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
  });
  // `weavets cni` is the same plugin.
  const viaCmd = await run({ CNI_COMMAND: "VERSION" }, '{"cniVersion":"1.0.0"}', ["cni"]);
  assert.equal(viaCmd.json.cniVersion, "1.0.0");
});

Deno.test("cni binary: malformed input gives the spec's error object on stdout", async () => {
  const cases: [Record<string, string>, string, number, RegExp][] = [
    [{ CNI_COMMAND: "ADD" }, "not json", 6, /not valid JSON/],
    [{ CNI_COMMAND: "ADD" }, '{"cniVersion":"1.0.0","type":"weavets"}', 7, /name: /],
    [{ CNI_COMMAND: "ADD" }, '{"cniVersion":"0.2.0","name":"n","type":"weavets"}', 1, /0\.2\.0/],
    [{ CNI_COMMAND: "ADD", CNI_IFNAME: ".." }, CONF, 4, /CNI_IFNAME "\.\."/],
    [{ CNI_COMMAND: "ADD", CNI_IFNAME: "a/b" }, CONF, 4, /CNI_IFNAME "a\/b"/],
    [{ CNI_COMMAND: "ADD", CNI_IFNAME: "0123456789abcdef" }, CONF, 4, /at most 15 allowed/],
    [{ CNI_COMMAND: "ADD", CNI_CONTAINERID: "" }, CONF, 4, /CNI_CONTAINERID is not set/],
    [{ CNI_COMMAND: "FROB" }, CONF, 4, /CNI_COMMAND "FROB" is unknown/],
    [{ CNI_COMMAND: "GC" }, CONF, 1, /GC needs cniVersion 1\.1\.0/],
    [{ CNI_COMMAND: "CHECK" }, CONF.replace("1.0.0", "0.3.1"), 1, /CHECK needs cniVersion 0\.4\.0/],
    [{ CNI_COMMAND: "ADD" }, NO_IPAM, 5, /"no-such-ipam" was not found in CNI_PATH .* install it/],
    [{ CNI_COMMAND: "ADD", CNI_PATH: "" }, NO_IPAM, 4, /CNI_PATH is not set/],
  ];
  for (const [env, stdin, code, msg] of cases) {
    const r = await run(env, stdin);
    const what = `${JSON.stringify(env)} ${stdin}`;
    assert.equal(r.code, 1, what);
    assert.equal(r.json.code, code, `${what}: ${r.stdout}`);
    assert.match(r.json.msg, msg, what);
    assert.equal(typeof r.json.cniVersion, "string");
    assert.match(r.stderr, /weavets cni: error/, "diagnostics go to stderr");
    assert.equal(r.stdout.trim().split("\n").length, 1, "stdout holds only the error object");
  }
});

/** No stack trace or source path in what the runtime passes up into pod events. */
function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /\n\s+at |file:\/\/|\.ts:\d+/, `a stack or a source path: ${text}`);
}

Deno.test("cni binary: error details carry no stack or source path (CNI_NETNS=/etc/passwd)", async () => {
  const r = await run({ CNI_COMMAND: "ADD", CNI_NETNS: "/etc/passwd" }, CONF);
  assert.equal(r.json.code, 4, r.stdout);
  assert.match(r.json.msg, /^CNI_NETNS: \/etc\/passwd is not a network namespace/);
  assertNoStack(r.stdout);
});

Deno.test("cni binary: an ipam.type with a path is refused, one of the plugin's own names is the daemon; nothing is executed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wtc-evil-" });
  const marker = `${dir}/ran`;
  await Deno.writeTextFile(`${dir}/evil`, `#!/bin/sh\ntouch '${marker}'\necho '{}'\n`, {
    mode: 0o755,
  });
  try {
    // STATUS execs the delegate (its VERSION) without root or a namespace.
    const conf = (type: string) =>
      JSON.stringify({ cniVersion: "1.1.0", name: "n", type: "weavets", ipam: { type } });
    for (const type of [`../../../../../..${dir}/evil`, `${dir}/evil`]) {
      const r = await run({ CNI_COMMAND: "STATUS", CNI_PATH: "/usr/lib/cni" }, conf(type));
      assert.equal(r.json.code, 7, r.stdout);
      assert.match(r.json.msg, /ipam\.type: .* is not a plugin name/);
      assert.equal(await exists(marker), false, `${type} was executed`);
    }
    // The plugin's own names are the daemon's IPAM, never exec'd (that would be this plugin
    // again, exec'ing itself without end): a "weavets" here that ran would leave the marker.
    for (const own of ["weavets", "weave-net", "weave-ipam"]) {
      await Deno.copyFile(`${dir}/evil`, `${dir}/${own}`);
      const r = await run(
        { CNI_COMMAND: "STATUS", CNI_PATH: dir, WEAVE_HTTP_ADDR: "127.0.0.1:9" },
        conf(own),
      );
      assert.equal(r.json.code, 50, r.stdout);
      assert.match(r.json.msg, /daemon is not reachable at http:\/\/127\.0\.0\.1:9/);
      assert.equal(await exists(marker), false, `ipam.type ${own} was executed`);
    }
    // Negative control: the same plugin by its plain name in CNI_PATH is executed.
    await run({ CNI_COMMAND: "STATUS", CNI_PATH: dir }, conf("evil"));
    assert.equal(await exists(marker), true, "the control did not run the plugin");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("cni binary: 50 MB on stdin is error 6 within 1 s, and the plugin stays under 100 MB", async () => {
  // What starting the plugin costs on this machine now (a loaded CI box: seconds): the bound is
  // on what the 50 MB add to that.
  const t0 = performance.now();
  await run({ CNI_COMMAND: "VERSION" }, '{"cniVersion":"1.0.0"}');
  const startMs = performance.now() - t0;
  const child = new Deno.Command(weavetsBin(), {
    env: { ...BASE_ENV, CNI_COMMAND: "ADD" },
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const started = performance.now();
  // The peak resident size (VmHWM), read while it runs (it only grows).
  let peakKb = 0;
  const watch = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${child.pid}/status`));
      if (m) peakKb = Math.max(peakKb, Number(m[1]));
    } catch {
      // exited
    }
  }, 5);
  // A config that starts well, then never ends: 50 MB.
  const head = '{"cniVersion":"1.0.0","name":"n","type":"weavets","x":"';
  const chunk = new TextEncoder().encode("a".repeat(1 << 20));
  const w = child.stdin.getWriter();
  const writing = (async () => {
    try {
      await w.write(new TextEncoder().encode(head));
      for (let i = 0; i < 50; i++) await w.write(chunk);
      await w.close();
    } catch {
      // the plugin stopped reading and exited: the pipe broke, as a runtime would see it
    }
  })();
  const out = await child.output();
  const ms = performance.now() - started;
  clearInterval(watch);
  await writing;
  const json = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.equal(out.code, 1);
  assert.equal(json.code, 6, JSON.stringify(json));
  assert.equal(json.cniVersion, "1.0.0", "answered in the config's version");
  assert.match(json.msg, /larger than 1048576 bytes/);
  console.log(
    `50 MB stdin: error 6 after ${ms.toFixed(0)} ms (VERSION alone: ${startMs.toFixed(0)} ms), ` +
      `peak RSS ${(peakKb / 1024).toFixed(0)} MB`,
  );
  assert.ok(peakKb > 0, "the peak was measured");
  assert.ok(peakKb < 100 * 1024, `peak RSS ${peakKb} kB`);
  assert.ok(ms - startMs < 1000, `took ${ms.toFixed(0)} ms, VERSION ${startMs.toFixed(0)} ms`);
});
