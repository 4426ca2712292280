import assert from "node:assert/strict";
import {
  allowedSources,
  type AllowlistInput,
  apiRulePort,
  deleteScript,
  inputScript,
  parseRefused,
  parseRuleCount,
  parseSetElements,
  ruleCount,
  updateScript,
} from "./allowlist.ts";

const A = "aa:00:00:00:00:01";
const B = "aa:00:00:00:00:02";
const C = "aa:00:00:00:00:03";
const SELF = "aa:00:00:00:00:00";

function input(over: Partial<AllowlistInput> = {}): AllowlistInput {
  return {
    self: SELF,
    topology: new Set([SELF, A, B]),
    records: [
      { peer: SELF, addr: "10.0.0.10" },
      { peer: B, addr: "10.0.0.2" },
      { peer: A, addr: "10.0.0.1" },
    ],
    adopted: [],
    graceOver: true,
    ...over,
  };
}

Deno.test("allowed: every other peer in the topology with a record, sorted, not this node", () => {
  assert.deepEqual(allowedSources(input()), ["10.0.0.1", "10.0.0.2"]);
});

Deno.test("allowed: a record of a peer not in the topology (gone, or never joined) is not", () => {
  const r = allowedSources(input({
    records: [{ peer: A, addr: "10.0.0.1" }, { peer: C, addr: "10.0.0.3" }],
  }));
  assert.deepEqual(r, ["10.0.0.1"]);
  // Negative control: the same record once C is in the topology.
  const withC = allowedSources(input({
    topology: new Set([SELF, A, C]),
    records: [{ peer: A, addr: "10.0.0.1" }, { peer: C, addr: "10.0.0.3" }],
  }));
  assert.deepEqual(withC, ["10.0.0.1", "10.0.0.3"]);
});

Deno.test("allowed: a peer in the topology without a record yet sends nothing, so it is not", () => {
  assert.deepEqual(allowedSources(input({ records: [] })), []);
});

Deno.test("allowed: numeric order, duplicates once, anything not IPv4 ignored", () => {
  const r = allowedSources(input({
    topology: new Set([SELF, A, B, C]),
    records: [
      { peer: A, addr: "10.0.0.10" },
      { peer: B, addr: "10.0.0.9" },
      { peer: C, addr: "10.0.0.9" },
      { peer: "aa:00:00:00:00:04", addr: "1.1.1.1" },
    ],
  }));
  assert.deepEqual(r, ["10.0.0.9", "10.0.0.10"]);
  const bad = allowedSources(input({
    records: [{ peer: A, addr: "10.0.0.1 } ; flush ruleset ; {" }, { peer: B, addr: "::1" }],
  }));
  assert.deepEqual(bad, []);
});

Deno.test("allowed: a previous run's addresses stay until the grace is over", () => {
  const during = allowedSources(
    input({ adopted: ["10.0.0.7", "10.0.0.1", "junk"], graceOver: false }),
  );
  assert.deepEqual(during, ["10.0.0.1", "10.0.0.2", "10.0.0.7"]);
  const after = allowedSources(input({ adopted: ["10.0.0.7", "10.0.0.1"], graceOver: true }));
  assert.deepEqual(after, ["10.0.0.1", "10.0.0.2"]);
});

Deno.test("the table: data ports to a set of peers, counted drops, API port from lo only", () => {
  const s = inputScript({
    sleevePort: 6783,
    fastdpPort: 6784,
    apiPort: 6784,
    allowed: ["10.0.0.1", "10.0.0.2"],
  });
  assert.ok(s.startsWith("add table inet weavets_input\ndelete table inet weavets_input\n"));
  assert.match(s, /type filter hook input priority filter; policy accept;/);
  assert.match(s, /elements = \{ 10\.0\.0\.1, 10\.0\.0\.2 \}/);
  const input = s.slice(s.indexOf("chain input"), s.indexOf("chain data_ports"));
  const lines = input.split("\n").map((l) => l.trim());
  // lo first: nothing local is ever refused, and the API rule sees only what came from outside.
  assert.ok(
    lines.indexOf('iif "lo" accept') <
      lines.indexOf("tcp dport 6784 counter name refused_api drop"),
  );
  assert.ok(lines.includes("udp dport { 6783, 6784 } jump data_ports"));
  const data = s.slice(s.indexOf("chain data_ports")).split("\n").map((l) => l.trim());
  assert.deepEqual(data.slice(1, 4), [
    "ip saddr @peers accept",
    "udp dport 6783 counter name refused_sleeve drop",
    "counter name refused_fastdp drop",
  ]);
  assert.doesNotMatch(s, /ct state|tcp dport 6783/, "no conntrack, the control port untouched");
});

Deno.test("the table: no API rule without a loopback TCP API; an empty set has no elements", () => {
  const s = inputScript({ sleevePort: 7000, fastdpPort: 7001, apiPort: null, allowed: [] });
  assert.doesNotMatch(s, /tcp dport/);
  assert.doesNotMatch(s, /elements/);
  assert.match(s, /udp dport \{ 7000, 7001 \} jump data_ports/);
  assert.match(s, /udp dport 7000 counter name refused_sleeve drop/);
});

Deno.test("apiRulePort: loopback TCP only", () => {
  assert.equal(apiRulePort({ transport: "tcp", hostname: "127.0.0.1", port: 6784 }), 6784);
  assert.equal(apiRulePort({ transport: "tcp", hostname: "0.0.0.0", port: 6784 }), null);
  assert.equal(apiRulePort({ transport: "tcp", hostname: "192.168.1.5", port: 6784 }), null);
  assert.equal(apiRulePort({ transport: "unix", path: "/run/weave.sock" }), null);
});

Deno.test("updates: only the difference, deletes then adds, nothing when equal", () => {
  assert.equal(updateScript(["10.0.0.1"], ["10.0.0.1"]), "");
  assert.equal(
    updateScript(["10.0.0.1", "10.0.0.2"], ["10.0.0.2", "10.0.0.3"]),
    "delete element inet weavets_input peers { 10.0.0.1 }\n" +
      "add element inet weavets_input peers { 10.0.0.3 }\n",
  );
  assert.equal(deleteScript(), "add table inet weavets_input\ndelete table inet weavets_input\n");
});

Deno.test("reading back: nft's JSON for the set and the counters", () => {
  // As libnftables 1.0.6 prints them (captured from `list set` / `list counters`, --json).
  const set = JSON.stringify({
    nftables: [
      { metainfo: { version: "1.0.6", json_schema_version: 1 } },
      {
        set: {
          family: "inet",
          name: "peers",
          table: "weavets_input",
          type: "ipv4_addr",
          handle: 4,
          elem: ["10.0.0.1", "10.0.0.3"],
        },
      },
    ],
  });
  assert.deepEqual(parseSetElements(set), ["10.0.0.1", "10.0.0.3"]);
  assert.deepEqual(
    parseSetElements(JSON.stringify({ nftables: [{ set: { name: "peers" } }] })),
    [],
  );
  const counters = JSON.stringify({
    nftables: [
      { metainfo: {} },
      { counter: { family: "inet", name: "refused_sleeve", table: "weavets_input", packets: 3 } },
      { counter: { name: "refused_fastdp", packets: 5, bytes: 500 } },
      { counter: { name: "other", packets: 99 } },
    ],
  });
  assert.deepEqual(parseRefused(counters), { sleeve: 3, fastdp: 5, api: 0 });
  assert.deepEqual(parseRefused("{}"), { sleeve: 0, fastdp: 0, api: 0 });
});

Deno.test("rule count: as written (with and without the API rule); what nft lists is counted", () => {
  const r = { sleevePort: 6783, fastdpPort: 6784, apiPort: 6784 };
  const script = inputScript({ ...r, allowed: [] });
  const written = script.split("\n").filter((l) => /^ {4}(iif|udp|tcp|ip|counter)/.test(l));
  assert.equal(ruleCount(r), written.length);
  assert.equal(ruleCount(r), 6);
  assert.equal(ruleCount({ ...r, apiPort: null }), 5);
  const listed = JSON.stringify({
    nftables: [{ metainfo: {} }, { table: {} }, { set: { name: "peers" } }, { rule: {} }, {
      rule: {},
    }],
  });
  assert.equal(parseRuleCount(listed), 2);
});
