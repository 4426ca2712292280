import assert from "node:assert/strict";
import { ConfigError, type DaemonConfig, parseDaemonConfig } from "./config.ts";
import { IGNORED_WEAVE_FLAGS, rewriteWeaveArgs } from "./weave_flags.ts";

const host = {
  machineId: () => "0123456789abcdef0123456789abcdef\n",
  systemUuid: () => "4C4C4544-0042-3510-8052-B4C04F563232\n",
  hostname: () => "host-1",
  readFile: (p: string): string => {
    throw new Error(`no file ${p}`);
  },
};

interface Row {
  /** The Weave Net 2.8.1 setting (launch.sh variable or weaver flag) and what it means there. */
  weave: string;
  args?: string[];
  env?: Record<string, string>;
  expect: (c: DaemonConfig) => void;
  /** A warning the daemon logs for it. */
  warns?: RegExp;
}

// Every variable of weave:prog/weave-kube/launch.sh and every flag of weave:prog/weaver/main.go
// that has a meaning on Kubernetes, as Weave Net's manifest or its docs pass them.
const ROWS: Row[] = [
  {
    weave: "EXTRA_ARGS=--log-level=debug (Weave's docs recommend it)",
    args: ["--log-level=debug"],
    expect: (c) => assert.equal(c.logLevel, "debug"),
  },
  {
    weave: "--log-level warning (logrus's name)",
    args: ["--log-level", "warning"],
    expect: (c) => assert.equal(c.logLevel, "warn"),
  },
  {
    weave: "--log-level=error",
    args: ["--log-level=error"],
    expect: (c) => assert.equal(c.logLevel, "error"),
  },
  {
    weave: "--trusted-subnets (Go masks host bits)",
    args: ["--trusted-subnets=10.0.0.0/8,192.168.1.7/24"],
    expect: (c) => assert.deepEqual(c.trustedSubnets, ["10.0.0.0/8", "192.168.1.0/24"]),
  },
  {
    weave: "--no-discovery",
    args: ["--no-discovery"],
    expect: (c) => assert.equal(c.discovery, false),
  },
  {
    weave: "--ipalloc-default-subnet inside the range",
    args: ["--ipalloc-default-subnet=10.32.1.0/24"],
    expect: (c) => assert.equal(c.ipallocDefaultSubnet, "10.32.1.0/24"),
  },
  {
    weave: "CONN_LIMIT=0: unlimited",
    env: { CONN_LIMIT: "0" },
    expect: (c) => assert.equal(c.connLimit, 0),
  },
  {
    weave: "--conn-limit=$CONN_LIMIT with CONN_LIMIT empty: launch.sh's default 200",
    args: ["--conn-limit="],
    expect: (c) => assert.equal(c.connLimit, 200),
  },
  {
    weave: "NO_MASQ_LOCAL=yes: on (anything but 0)",
    env: { NO_MASQ_LOCAL: "yes" },
    expect: (c) => assert.equal(c.noMasqLocal, true),
  },
  {
    weave: "NO_MASQ_LOCAL=false: on in Weave too, with a warning saying so",
    env: { NO_MASQ_LOCAL: "false" },
    expect: (c) => assert.equal(c.noMasqLocal, true),
    warns: /NO_MASQ_LOCAL="false" means on, as in Weave Net.*NO_MASQ_LOCAL=0/,
  },
  {
    weave: "NO_MASQ_LOCAL=0: off",
    env: { NO_MASQ_LOCAL: "0" },
    expect: (c) => assert.equal(c.noMasqLocal, false),
  },
  {
    weave: "--no-masq-local (launch.sh passes it unless NO_MASQ_LOCAL=0)",
    args: ["--no-masq-local"],
    expect: (c) => assert.equal(c.noMasqLocal, true),
  },
  {
    weave: "IPALLOC_INIT=consensus=0 (weave-kube on a one-node cluster)",
    env: { IPALLOC_INIT: "consensus=0" },
    expect: (c) => assert.equal(c.ipallocInit, "consensus"),
  },
  {
    weave: "--ipalloc-init consensus=3",
    args: ["--ipalloc-init", "consensus=3"],
    expect: (c) => assert.equal(c.ipallocInit, "consensus=3"),
  },
  {
    weave: "WEAVE_HTTP_ADDR a Unix socket",
    env: { WEAVE_HTTP_ADDR: "/run/weave/weave.sock" },
    expect: (c) => assert.equal(c.httpAddr, "/run/weave/weave.sock"),
  },
  {
    weave: "WEAVE_METRICS_ADDR",
    env: { WEAVE_METRICS_ADDR: "127.0.0.1:6782" },
    expect: (c) => assert.equal(c.metricsAddr, "127.0.0.1:6782"),
  },
  {
    weave: "WEAVE_STATUS_ADDR",
    env: { WEAVE_STATUS_ADDR: "0.0.0.0:6785" },
    expect: (c) => assert.equal(c.statusAddr, "0.0.0.0:6785"),
  },
  {
    weave: "--status-addr a Unix socket",
    args: ["--status-addr=/run/weavets/status.sock"],
    expect: (c) => assert.equal(c.statusAddr, "/run/weavets/status.sock"),
  },
  {
    weave: "HOSTNAME (launch.sh: the nickname and the node name)",
    env: { HOSTNAME: "node-7" },
    expect: (c) => (assert.equal(c.nickname, "node-7"), assert.equal(c.nodeName, "node-7")),
  },
  {
    weave: "HOSTNAME with --kube: the peer name from the node name",
    args: ["--kube"],
    env: { HOSTNAME: "node-7" },
    // printf 'weavets node name\0node-7' | sha256sum → 417941fc0de2…
    expect: (c) => assert.equal(c.name, "42:79:41:fc:0d:e2"),
  },
  {
    weave: "no --name: machine id + product UUID, Weave's derivation (golden: peer_name_test.ts)",
    expect: (c) => assert.equal(c.name, "36:78:8e:8a:ad:5f"),
  },
  {
    weave: "--nickname=$HOSTNAME with a long name: shortened to the wire's 64 bytes, warned",
    args: [`--nickname=${"n".repeat(60)}.example.com`],
    expect: (c) => assert.equal(c.nickname, `${"n".repeat(60)}.exa`),
    warns: /--nickname: ".*" is longer than 64 bytes; the nickname is "n+\.exa"/,
  },
  {
    weave: "HOSTNAME with multi-byte characters: cut at a character, within 64 bytes",
    env: { HOSTNAME: "ü".repeat(40) },
    expect: (c) => assert.equal(c.nickname, "ü".repeat(32)),
    warns: /the hostname: .* is longer than 64 bytes/,
  },
  {
    weave: "WEAVE_EXPOSE_IP (weave expose's argument)",
    env: { WEAVE_EXPOSE_IP: "10.32.0.1/12" },
    expect: (c) => assert.equal(c.bridgeCidr, "10.32.0.1/12"),
  },
  {
    weave: "WEAVE_EXPOSE_IP=ip:CIDR",
    env: { WEAVE_EXPOSE_IP: "ip:10.32.0.1/12" },
    expect: (c) => assert.equal(c.bridgeCidr, "10.32.0.1/12"),
  },
  {
    weave: "WEAVE_EXPOSE_IP a bare address: the range's prefix",
    env: { WEAVE_EXPOSE_IP: "10.32.0.1" },
    expect: (c) => assert.equal(c.bridgeCidr, "10.32.0.1/12"),
  },
  {
    weave: "--expect-npc with --kube (launch.sh passes it unless EXPECT_NPC=0)",
    args: ["--kube", "--expect-npc"],
    expect: (c) => assert.equal(c.npc, true),
  },
  {
    weave: "EXPECT_NPC=0",
    args: ["--kube"],
    env: { EXPECT_NPC: "0" },
    expect: (c) => assert.equal(c.npc, false),
  },
  {
    weave: "--expect-npc without the API: a warning, nothing enforced",
    args: ["--expect-npc"],
    expect: (c) => assert.equal(c.npc, false),
    warns: /--expect-npc: NetworkPolicies are enforced only with --kube/,
  },
  {
    weave: "--weave-bridge",
    args: ["--weave-bridge=weave2"],
    expect: (c) => assert.equal(c.bridge, "weave2"),
  },
  {
    weave: "WEAVE_MTU",
    env: { WEAVE_MTU: "1376" },
    expect: (c) => assert.equal(c.mtu, 1376),
  },
  {
    weave: "WEAVE_NO_FASTDP",
    env: { WEAVE_NO_FASTDP: "1" },
    expect: (c) => assert.equal(c.fastdp, false),
  },
  {
    weave: "--no-fastdp=true (Go's boolean form)",
    args: ["--no-fastdp=true"],
    expect: (c) => assert.equal(c.fastdp, false),
  },
  {
    weave: "--no-fastdp=false",
    args: ["--no-fastdp=false"],
    expect: (c) => assert.equal(c.fastdp, true),
  },
  {
    weave: "IPALLOC_RANGE",
    env: { IPALLOC_RANGE: "10.40.0.0/16" },
    expect: (c) => assert.equal(c.ipallocRange, "10.40.0.0/16"),
  },
  {
    weave: "KUBE_PEERS",
    env: { KUBE_PEERS: "10.0.0.2 10.0.0.3" },
    expect: (c) => assert.deepEqual(c.peers, ["10.0.0.2", "10.0.0.3"]),
  },
  {
    weave: "WEAVE_PASSWORD",
    env: { WEAVE_PASSWORD: "pw" },
    expect: (c) => assert.equal(c.password, "pw"),
  },
  {
    weave: "--print-peer-name (launch.sh asks weaver for it)",
    args: ["--print-peer-name"],
    expect: (c) => assert.equal(c.action, "print-peer-name"),
  },
  {
    weave: "--nickname=$HOSTNAME, --port=6783, --http-addr, --ipalloc-range, --mtu (launch.sh)",
    args: [
      "--nickname=n1",
      "--port=6783",
      "--http-addr=127.0.0.1:6784",
      "--ipalloc-range=10.32.0.0/12",
      "--mtu",
      "1376",
    ],
    expect: (c) => assert.deepEqual([c.nickname, c.port, c.mtu], ["n1", 6783, 1376]),
  },
  {
    weave: "launch.sh's own Docker-era flags: --docker-api='' --no-dns --datapath=datapath",
    args: ["--docker-api=", "--no-dns", "--datapath=datapath", "--db-prefix=/weavedb/weave-net"],
    expect: (c) => assert.equal(c.bridge, "weave"),
    warns: /--docker-api \(Weave Net\) ignored: Docker-only/,
  },
  {
    weave: "CHECKPOINT_DISABLE, IPTABLES_BACKEND, INIT_CONTAINER, HOST_ROOT, DB_PREFIX: no effect",
    env: {
      CHECKPOINT_DISABLE: "1",
      IPTABLES_BACKEND: "nft",
      INIT_CONTAINER: "true",
      HOST_ROOT: "/host",
      DB_PREFIX: "/weavedb/weave-net",
    },
    expect: (c) => assert.equal(c.datadir, "/var/lib/weavets"),
  },
];

for (const row of ROWS) {
  Deno.test(`Weave setting: ${row.weave}`, () => {
    const c = parseDaemonConfig(row.args ?? [], row.env ?? {}, host);
    assert.ok(c);
    row.expect(c);
    if (row.warns) assert.match(c.warnings.join("\n"), row.warns);
  });
}

Deno.test("Weave setting: every Docker-only or Open vSwitch flag ignored with one warning each", () => {
  for (const [name, f] of Object.entries(IGNORED_WEAVE_FLAGS)) {
    const flag = name.length === 1 ? `-${name}` : `--${name}`;
    // Each flag in both forms Go accepts, with a peer address after it that must survive.
    const forms = f.value ? [[`${flag}=x`], [flag, "x"]] : [[flag], [`${flag}=true`]];
    for (const form of forms) {
      const c = parseDaemonConfig([...form, "10.0.0.9"], {}, host);
      assert.ok(c, flag);
      assert.deepEqual(c.peers, ["10.0.0.9"], `${form.join(" ")}: the peer after it is kept`);
      const mine = c.warnings.filter((w) => w.startsWith(`${flag} (Weave Net) ignored`));
      assert.equal(mine.length, 1, `${form.join(" ")}: one warning`);
    }
  }
  // Given twice: still one warning.
  const c = parseDaemonConfig(["--no-dns", "--no-dns"], {}, host)!;
  assert.equal(c.warnings.filter((w) => w.startsWith("--no-dns")).length, 1);
});

Deno.test("Weave setting: wrong values still stop the daemon, naming the setting (negative controls)", () => {
  const fails = (args: string[], env: Record<string, string>, re: RegExp) =>
    assert.throws(
      () => parseDaemonConfig(args, env, host),
      (e) => e instanceof ConfigError && re.test(e.message),
    );
  fails(["--not-a-weave-flag"], {}, /Unknown option '--not-a-weave-flag'.*weavets daemon --help/);
  fails(["--log-level=loud"], {}, /^--log-level: must be debug, info, warning or error/);
  fails(["--trusted-subnets=10.0.0.0"], {}, /^--trusted-subnets: /);
  fails(["--ipalloc-default-subnet=10.64.0.0/24"], {}, /not inside the allocation range/);
  fails([], { WEAVE_EXPOSE_IP: "192.168.0.1/24" }, /^WEAVE_EXPOSE_IP: .*not inside the pod range/);
  fails([], { WEAVE_EXPOSE_IP: "net:10.32.0.0/24" }, /^WEAVE_EXPOSE_IP: .*not supported/);
  fails([], { WEAVE_STATUS_ADDR: "everywhere" }, /^WEAVE_STATUS_ADDR: invalid listen address/);
  fails([], { IPALLOC_INIT: "consensus=x" }, /^IPALLOC_INIT: /);
  fails(["--no-fastdp=maybe"], {}, /--no-fastdp/);
  fails(["--kube", "--expect-npc", "--no-npc"], {}, /give only one/);
});

Deno.test("Weave args: rewriting leaves what it does not know to the strict parser", () => {
  const booleans = new Set(["no-fastdp"]);
  assert.deepEqual(
    rewriteWeaveArgs(
      ["--proxy", "-H", "tcp://0.0.0.0:12375", "--bogus", "p1", "--", "--no-dns"],
      booleans,
    ),
    {
      args: ["--bogus", "p1", "--", "--no-dns"],
      warnings: [
        "--proxy (Weave Net) ignored: Docker-only (weavets has no Docker proxy, DNS or plugin)",
        "-H (Weave Net) ignored: Docker-only (weavets has no Docker proxy, DNS or plugin)",
      ],
    },
  );
  assert.deepEqual(rewriteWeaveArgs(["--no-fastdp=1", "--no-fastdp=f"], booleans).args, [
    "--no-fastdp",
  ]);
});
