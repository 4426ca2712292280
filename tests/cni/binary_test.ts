/**
 * The plugin binary's contract with a runtime, without root: the spec's error object on stdout
 * with the right code and a non-zero exit, diagnostics on stderr only, VERSION, `weavets cni`.
 */
import assert from "node:assert/strict";
import { runWeavets } from "../harness/binary.ts";

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
