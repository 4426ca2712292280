import assert from "node:assert/strict";
import { parseConfig } from "../config.ts";
import { parseEnv } from "../env.ts";
import { CniError } from "../errors.ts";
import { DelegatedIpam } from "./delegate.ts";

/** A throwaway IPAM plugin (a shell script) in its own CNI_PATH directory. */
function fakePlugin(script: string): string {
  const dir = Deno.makeTempDirSync({ prefix: "wtc-ipam-" });
  Deno.writeTextFileSync(`${dir}/fake-ipam`, `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  return dir;
}

function delegate(dir: string, command = "ADD", version = "0.4.0") {
  const raw = JSON.stringify({
    cniVersion: version,
    name: "n",
    type: "weavets",
    ipam: { type: "fake-ipam", x: 1 },
  });
  const processEnv = {
    PATH: "/usr/bin:/bin",
    CNI_COMMAND: command,
    CNI_CONTAINERID: "c1",
    CNI_NETNS: "/run/netns/x",
    CNI_IFNAME: "eth0",
    CNI_PATH: `/nonexistent:${dir}`,
  };
  return new DelegatedIpam({
    conf: parseConfig(raw),
    env: parseEnv(processEnv),
    rawConfig: raw,
    processEnv,
  }, "fake-ipam");
}

Deno.test("delegate: execs the plugin from CNI_PATH with our env and the same config; reads its result", async () => {
  const dir = fakePlugin(
    'cat > "$(dirname "$0")/stdin"; echo "$CNI_COMMAND $CNI_CONTAINERID $CNI_IFNAME" > "$(dirname "$0")/env"\n' +
      'echo \'{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.1.0.7/24","gateway":"10.1.0.1"}],"dns":{}}\'',
  );
  try {
    const r = await delegate(dir).add();
    assert.deepEqual(r.ips, [{ address: "10.1.0.7/24", gateway: "10.1.0.1" }]);
    assert.equal(await delegate(dir).bridgeAddress(r), "10.1.0.1/24");
    assert.equal(Deno.readTextFileSync(`${dir}/env`), "ADD c1 eth0\n");
    assert.equal(JSON.parse(Deno.readTextFileSync(`${dir}/stdin`)).ipam.x, 1);
    await delegate(dir).del();
    assert.equal(Deno.readTextFileSync(`${dir}/env`), "DEL c1 eth0\n");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("delegate: its error object comes back with its code; garbage is error 6", async () => {
  const dir = fakePlugin('echo \'{"code":11,"msg":"range busy"}\'; exit 1');
  const junk = fakePlugin("echo not-json");
  try {
    await assert.rejects(delegate(dir).add(), (e: unknown) => {
      assert.ok(e instanceof CniError);
      assert.equal(e.code, 11);
      assert.match(e.message, /ipam plugin "fake-ipam" failed ADD \(exit 1\): range busy/);
      return true;
    });
    await assert.rejects(
      delegate(junk).add(),
      (e: unknown) => e instanceof CniError && e.code === 6,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
    Deno.removeSync(junk, { recursive: true });
  }
});

Deno.test("delegate: GC and STATUS are skipped for a plugin that does not speak 1.1.0", async () => {
  const dir = fakePlugin(
    'echo "$CNI_COMMAND" >> "$(dirname "$0")/calls"\n' +
      'echo \'{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}\'',
  );
  try {
    await delegate(dir, "GC", "1.1.0").gc();
    await delegate(dir, "STATUS", "1.1.0").status();
    assert.equal(Deno.readTextFileSync(`${dir}/calls`), "VERSION\nVERSION\n");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
