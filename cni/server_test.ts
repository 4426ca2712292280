import assert from "node:assert/strict";
import { Logger } from "../net/log.ts";
import type { AttachedPod } from "./attached.ts";
import { viaDaemon } from "./client.ts";
import { hostVethName } from "./names.ts";
import { createCniServer } from "./server.ts";
import { MAX_REQUEST_BYTES } from "./socket.ts";

const quiet = new Logger({ sink: { write() {} } });

async function withServer(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wtcnisock-" });
  const path = `${dir}/sub/net.sock`;
  const server = createCniServer({ log: quiet, path, pendingDir: `${dir}/pending` });
  await server.start!({} as never);
  try {
    assert.equal(server.socket(), path);
    await fn(path);
  } finally {
    await server.stop!();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Sends raw bytes and returns the parsed answer. */
async function raw(path: string, bytes: Uint8Array): Promise<Record<string, unknown>> {
  const conn = await Deno.connect({ transport: "unix", path });
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
  await conn.closeWrite();
  return JSON.parse(await new Response(conn.readable).text());
}

Deno.test("cni server: answers VERSION like the plugin would, in the requested version", async () => {
  await withServer(async (path) => {
    const reply = await viaDaemon(path, {
      env: { CNI_COMMAND: "VERSION" },
      stdin: '{"cniVersion":"0.4.0"}',
    });
    assert.deepEqual(reply, {
      code: 0,
      output: {
        cniVersion: "0.4.0",
        supportedVersions: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
      },
      message: undefined,
    });
  });
});

Deno.test("cni server: a CNI error comes back as the spec's error object and exit code 1", async () => {
  await withServer(async (path) => {
    const reply = await viaDaemon(path, { env: { CNI_COMMAND: "BOGUS" }, stdin: "{}" });
    assert.ok(typeof reply === "object" && !("fallback" in reply));
    assert.equal(reply.code, 1);
    assert.equal(reply.output?.code, 4);
    assert.match(String(reply.output?.msg), /CNI_COMMAND "BOGUS" is unknown/);
  });
});

Deno.test("cni server: ADD for a namespace path it cannot enter is left to the plugin", async () => {
  await withServer(async (path) => {
    const empty = await Deno.makeTempFile({ prefix: "wtc-netns-placeholder-" });
    try {
      // Missing, and an empty file (what a mount namespace without the runtime's mount shows).
      for (
        const [netns, why] of [["/nonexistent/netns/c1", /does not exist/], [
          empty,
          /is not a network namespace/,
        ]] as const
      ) {
        const reply = await viaDaemon(path, {
          env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: "c1", CNI_NETNS: netns, CNI_IFNAME: "eth0" },
          stdin: '{"cniVersion":"1.0.0","name":"n","type":"weavets"}',
        });
        assert.ok(typeof reply === "object" && "fallback" in reply, JSON.stringify(reply));
        assert.match(reply.fallback, /^the daemon cannot use CNI_NETNS: /);
        assert.match(reply.fallback, why);
      }
    } finally {
      await Deno.remove(empty);
    }
  });
});

Deno.test("cni server: garbage and oversized requests get a decode error, and it keeps serving", async () => {
  await withServer(async (path) => {
    const garbage = await raw(path, new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
    assert.equal(garbage.code, 1);
    assert.equal((garbage.output as Record<string, unknown>).code, 6);
    assert.match(String((garbage.output as Record<string, unknown>).msg), /not JSON/);

    const wrongShape = await raw(path, new TextEncoder().encode('{"env": 3}'));
    assert.match(
      String((wrongShape.output as Record<string, unknown>).details),
      /env: .*stdin: /,
    );

    const big = await raw(path, new Uint8Array(MAX_REQUEST_BYTES + 10).fill(0x20));
    assert.match(String((big.output as Record<string, unknown>).msg), /larger than/);

    const ok = await viaDaemon(path, { env: { CNI_COMMAND: "VERSION" }, stdin: "" });
    assert.ok(typeof ok === "object" && !("fallback" in ok) && ok.code === 0);
  });
});

Deno.test("cni server: a second daemon in the same namespace does not take the socket over", async () => {
  await withServer(async (path) => {
    const second = createCniServer({ log: quiet, path, pendingDir: `${path}.pending` });
    await second.start!({} as never);
    assert.equal(second.socket(), null);
    await second.stop!();
    const ok = await viaDaemon(path, { env: { CNI_COMMAND: "VERSION" }, stdin: "" });
    assert.ok(
      typeof ok === "object" && !("fallback" in ok) && ok.code === 0,
      "the first one still serves",
    );
  });
});

Deno.test("cni server: the socket is root-only and a stale one is replaced", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wtcnisock-" });
  const path = `${dir}/net.sock`;
  try {
    await Deno.writeTextFile(path, "left by a killed daemon");
    const server = createCniServer({ log: quiet, path, pendingDir: `${dir}/pending` });
    await server.start!({} as never);
    try {
      assert.equal(server.socket(), path);
      assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
      assert.equal(Deno.statSync(dir).mode! & 0o777, 0o700);
    } finally {
      await server.stop!();
    }
    assert.throws(() => Deno.statSync(path), Deno.errors.NotFound, "stop removes the socket");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cni client: nothing listening means the plugin does the work itself", async () => {
  const reply = await viaDaemon("/nonexistent/weavets.sock", {
    env: { CNI_COMMAND: "VERSION" },
    stdin: "",
  });
  assert.equal(reply, "unreachable");
});

Deno.test("cni client: a daemon that dies before answering, or answers garbage, is 'broken'", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wtcnisock-" });
  const path = `${dir}/net.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const answers = ["", "not json", '{"code": "zero"}'];
  const server = (async () => {
    for (const answer of answers) {
      const conn = await listener.accept();
      await conn.read(new Uint8Array(1 << 16));
      if (answer) await conn.write(new TextEncoder().encode(answer));
      conn.close();
    }
  })();
  try {
    for (const _ of answers) {
      const reply = await viaDaemon(path, { env: { CNI_COMMAND: "ADD" }, stdin: "{}" });
      assert.equal(reply, "broken");
    }
  } finally {
    await server;
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cni server: an ADD the plugin did after a fallback reaches the hooks once its veth is here; forged ones are refused, logged once a minute", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wtcnisock-" });
  const path = `${dir}/net.sock`;
  const added: AttachedPod[] = [];
  const deleted: string[] = [];
  const lines: string[] = [];
  const links = new Set<string>();
  let t = 0;
  const server = createCniServer({
    log: new Logger({ sink: { write: (l: string) => lines.push(l) } }),
    path,
    pendingDir: `${dir}/pending`,
    onPodAdded: (p) => Promise.resolve(void added.push(p)),
    onPodDeleted: (id) => void deleted.push(id),
    hostLinkExists: (name) => links.has(name),
    now: () => t,
  });
  await server.start!({} as never);
  const env = {
    CNI_COMMAND: "ADD",
    CNI_CONTAINERID: "c9",
    CNI_IFNAME: "eth0",
    CNI_NETNS: "/run/netns/x",
    CNI_ARGS: "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p",
  };
  const done = { cniVersion: "1.0.0", ips: [{ address: "10.40.0.9/16" }] };
  try {
    // Negative control first: no interface on the node, nothing told (twice: one log line).
    for (let i = 0; i < 2; i++) {
      const r = await viaDaemon(path, { env, stdin: "", done });
      assert.ok(typeof r === "object" && "code" in r && r.code === 1, JSON.stringify(r));
      assert.match(String(r.message), /no interface vethwepl\w+ on this node/);
    }
    assert.deepEqual(added, []);
    assert.equal(lines.filter((l) => l.includes("refused a pod event")).length, 1);

    links.add(hostVethName("c9", "eth0"));
    const ok = await viaDaemon(path, { env, stdin: "", done });
    assert.deepEqual(ok, { code: 0, output: undefined, message: undefined });
    assert.deepEqual(added, [{
      containerId: "c9",
      namespace: "ns",
      name: "p",
      ips: ["10.40.0.9"],
    }]);

    // DEL: told only once the veth is gone.
    const del = { ...env, CNI_COMMAND: "DEL" };
    const early = await viaDaemon(path, { env: del, stdin: "", done: {} });
    assert.ok(typeof early === "object" && "code" in early && early.code === 1);
    links.clear();
    t += 61_000;
    const late = await viaDaemon(path, { env: del, stdin: "", done: {} });
    assert.ok(typeof late === "object" && "code" in late && late.code === 0);
    assert.deepEqual(deleted, ["c9"]);
    // A minute later the refusals are logged again, with how many were not.
    const r = await viaDaemon(path, { env: { ...env, CNI_COMMAND: "GC" }, stdin: "", done: {} });
    assert.ok(typeof r === "object" && "code" in r && r.code === 1);
    const refusedLines = lines.filter((l) => l.includes("refused a pod event"));
    assert.equal(refusedLines.length, 2);
    assert.match(refusedLines[1], /suppressed.{0,4}2/);
  } finally {
    await server.stop!();
    await Deno.remove(dir, { recursive: true });
  }
});
