import assert from "node:assert/strict";
import { ConfigError, parseDaemonConfig } from "./config.ts";

const facts = (
  machineId: string | null = "0123456789abcdef0123456789abcdef",
  files: Record<string, string> = {},
) => ({
  machineId: () => machineId,
  hostname: () => "node-1",
  readFile: (p: string) => {
    if (!(p in files)) throw new Error("No such file or directory");
    return files[p];
  },
});

function parse(args: string[], env: Record<string, string> = {}, f = facts()) {
  const c = parseDaemonConfig(args, env, f);
  assert.ok(c);
  return c;
}

function fails(args: string[], env: Record<string, string>, message: RegExp) {
  assert.throws(
    () => parseDaemonConfig(args, env, facts()),
    (e) => e instanceof ConfigError && message.test(e.message),
  );
}

Deno.test("daemon config: defaults, with the name stable for a machine id", () => {
  const c = parse([]);
  assert.deepEqual({ ...c, name: undefined }, {
    name: undefined,
    action: "run",
    logLevel: "info",
    nodeName: "node-1",
    nickname: "node-1",
    host: "0.0.0.0",
    port: 6783,
    httpAddr: "127.0.0.1:6784",
    metricsAddr: "0.0.0.0:6782",
    datadir: "/var/lib/weavets",
    password: null,
    passwordSecret: null,
    warnings: [
      "no password: peers are not authenticated and traffic is not encrypted (anyone who " +
      "reaches the control port can join); use --password-file on any network you do not " +
      "fully control",
    ],
    connLimit: 200,
    peers: [],
    statusAddr: null,
    discovery: true,
    trustedSubnets: [],
    ipallocDefaultSubnet: null,
    ipallocRange: "10.32.0.0/12",
    ipallocInit: "consensus",
    bridge: "weave",
    bridgeCidr: null,
    fastdp: true,
    fastdpPort: 6784,
    mtu: null,
    noMasqLocal: true,
    kube: false,
    kubeconfig: null,
    npc: false,
  });
  assert.match(c.name!, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  assert.equal(parse([]).name, c.name, "same machine id, same name");
  assert.notEqual(parse([], {}, facts("another-machine")).name, c.name);
  assert.equal(parse([], {}, facts(null)).name, null, "no machine id: decided at start");
});

Deno.test("daemon config: flags, then Weave's environment variables", () => {
  const env = {
    WEAVE_HTTP_ADDR: "127.0.0.1:7000",
    WEAVE_METRICS_ADDR: "",
    WEAVE_PASSWORD: "pw",
    CONN_LIMIT: "5",
    KUBE_PEERS: "10.0.0.2  10.0.0.3:7783",
  };
  const c = parse(["--name", "AA:BB:CC:DD:EE:FF", "--port", "7001", "10.0.0.1"], env);
  assert.equal(c.name, "aa:bb:cc:dd:ee:ff");
  assert.equal(c.port, 7001);
  assert.equal(c.httpAddr, "127.0.0.1:7000");
  assert.equal(c.metricsAddr, null, "empty WEAVE_METRICS_ADDR disables metrics");
  assert.equal(c.password, "pw");
  assert.equal(c.connLimit, 5);
  assert.deepEqual(c.peers, ["10.0.0.1", "10.0.0.2", "10.0.0.3:7783"]);
  const f = parse(
    ["--http-addr", "127.0.0.1:8000", "--conn-limit", "9", "--metrics-addr", ":9"],
    env,
  );
  assert.equal(f.httpAddr, "127.0.0.1:8000");
  assert.equal(f.connLimit, 9);
  assert.equal(f.metricsAddr, ":9");
});

Deno.test("daemon config: passwords from a flag or a file, never both", () => {
  assert.equal(parse(["--password", "x"]).password, "x");
  const withFile = parseDaemonConfig(
    ["--password-file", "/pw"],
    {},
    facts("m", { "/pw": "secret\n" }),
  );
  assert.equal(withFile?.password, "secret");
  fails(["--password", "a", "--password-file", "/pw"], {}, /give only one/);
  fails(["--password-file", "/missing"], {}, /^--password-file: cannot read "\/missing"/);
  fails(["--password", ""], {}, /^--password: must not be empty/);
  assert.equal(parse([], { WEAVE_PASSWORD: "" }).password, null, "empty variable: no password");
});

Deno.test("daemon config: --password warns; a password or --kube silences the no-password warning", () => {
  assert.match(parse(["--password", "x"]).warnings.join(), /command line.*use --password-file/);
  assert.deepEqual(parse([], { WEAVE_PASSWORD: "pw" }).warnings, []);
  assert.deepEqual(parse(["--kube"]).warnings, [], "--kube: the cluster secret authenticates");
  assert.match(parse([]).warnings.join(), /peers are not authenticated/);
});

Deno.test("daemon config: WEAVE_PASSWORD_SECRET names a Secret, only with --kube and no password", () => {
  assert.equal(
    parse(["--kube"], { WEAVE_PASSWORD_SECRET: "weave-passwd" }).passwordSecret,
    "weave-passwd",
  );
  assert.equal(parse(["--kube"], { WEAVE_PASSWORD_SECRET: "" }).passwordSecret, null);
  fails([], { WEAVE_PASSWORD_SECRET: "weave-passwd" }, /only with --kube/);
  fails(["--kube"], { WEAVE_PASSWORD_SECRET: "Not_A_Name" }, /not a Secret name/);
  fails(
    ["--kube"],
    { WEAVE_PASSWORD_SECRET: "weave-passwd", WEAVE_PASSWORD: "x" },
    /give only one/,
  );
});

Deno.test("daemon config: --conn-limit 0 is unlimited (Weave's meaning)", () => {
  assert.equal(parse(["--conn-limit", "0"]).connLimit, 0);
});

Deno.test("daemon config: invalid values name the flag or variable and the value", () => {
  fails(["--name", "nope"], {}, /^--name: invalid peer name "nope"/);
  fails(["--port", "0"], {}, /^--port: must be an integer from 1 to 65535, got "0"/);
  fails(["--host", "example.com"], {}, /^--host: must be an IPv4 address, got "example.com"/);
  fails(
    [],
    { WEAVE_HTTP_ADDR: "localhost" },
    /^WEAVE_HTTP_ADDR: invalid listen address "localhost"/,
  );
  fails(["--metrics-addr", "1.2.3.4:99999"], {}, /^--metrics-addr: invalid listen address/);
  fails([], { CONN_LIMIT: "lots" }, /^CONN_LIMIT: must be an integer/);
  fails(["--nickname", "has space"], {}, /^--nickname: must be printable characters/);
  fails(["10.0.0.1:123456"], {}, /^peer address "10.0.0.1:123456": invalid peer address/);
  fails([], { KUBE_PEERS: "a b:c" }, /^KUBE_PEERS: invalid peer address "b:c"/);
  fails(["--bogus"], {}, /Unknown option '--bogus'/);
});

Deno.test("daemon config: --help returns null", () => {
  assert.equal(parseDaemonConfig(["--help"], {}, facts()), null);
});

Deno.test("daemon config: IPAM, data plane and Kubernetes flags with Weave's variables", () => {
  const c = parse(
    ["--ipalloc-init", "seed=aa:bb:cc:dd:ee:01,AA:bb:cc:dd:ee:02", "--bridge", "wt0", "--kube"],
    { IPALLOC_RANGE: "10.64.0.0/16", WEAVE_MTU: "1400", WEAVE_NO_FASTDP: "1", NO_MASQ_LOCAL: "0" },
  );
  assert.equal(c.ipallocRange, "10.64.0.0/16");
  assert.equal(c.ipallocInit, "seed=aa:bb:cc:dd:ee:01,AA:bb:cc:dd:ee:02");
  assert.equal(c.bridge, "wt0");
  assert.equal(c.mtu, 1400);
  assert.equal(c.fastdp, false);
  assert.equal(c.noMasqLocal, false);
  assert.equal(c.kube, true);
  assert.equal(parse(["--no-fastdp"]).fastdp, false);
  assert.equal(parse(["--ipalloc-init", "consensus=5"]).ipallocInit, "consensus=5");
  assert.equal(parse(["--bridge-cidr", "10.32.0.1/12"]).bridgeCidr, "10.32.0.1/12");
});

Deno.test("daemon config: bad IPAM, data plane and Kubernetes values name their source", () => {
  fails(["--ipalloc-range", "10.32.0.0"], {}, /^--ipalloc-range: .*missing "\/prefix"/);
  fails([], { IPALLOC_RANGE: "10.32.1.0/12" }, /^IPALLOC_RANGE: .*did you mean 10\.32\.0\.0\/12/);
  fails(["--ipalloc-range", "10.0.0.0/31"], {}, /too small/);
  fails([], { IPALLOC_INIT: "paxos" }, /^IPALLOC_INIT: must be consensus/);
  fails(["--ipalloc-init", "seed=zz"], {}, /^--ipalloc-init: /);
  fails(["--bridge", "a-very-long-bridge-name"], {}, /^--bridge: must be an interface name/);
  fails([], { WEAVE_MTU: "9x" }, /^WEAVE_MTU: must be an integer from 576 to 65535, got "9x"/);
  fails(["--mtu", "100"], {}, /^--mtu: /);
  fails(["--kubeconfig", "/tmp/k"], {}, /^--kubeconfig: only with --kube/);
});

Deno.test("daemon config: NetworkPolicy enforcement with --kube unless --no-npc or EXPECT_NPC=0", () => {
  assert.equal(parse(["--kube"]).npc, true);
  assert.equal(parse([]).npc, false, "no API, no policies");
  assert.equal(parse(["--kube", "--no-npc"]).npc, false);
  assert.equal(parse(["--kube"], { EXPECT_NPC: "0" }).npc, false);
  assert.equal(parse(["--kube"], { EXPECT_NPC: "1" }).npc, true);
  assert.equal(parse(["--kube"], { EXPECT_NPC: "" }).npc, true);
});
