import assert from "node:assert/strict";
import {
  FORWARD_MARK,
  legacyInUse,
  legacyRules,
  parseOwnCounters,
  parseRuleset,
  planForward,
  removeForwardScript,
} from "./firewall.ts";

const meta = { metainfo: { version: "1.0.6", json_schema_version: 1 } };
// As nft 1.0.6 lists them: iptables-nft's FORWARD (policy drop), the policy controller's chain,
// a host firewall's inet chain, an output chain, and one of our rules.
const chain = (family: string, table: string, name: string, hook?: string, policy?: string) => ({
  chain: { family, table, name, handle: 1, type: "filter", hook, prio: 0, policy },
});
const LISTING = JSON.stringify({
  nftables: [
    meta,
    chain("ip", "filter", "FORWARD", "forward", "drop"),
    chain("ip", "filter", "OUTPUT", "output", "accept"),
    chain("inet", "weavets_npc", "forward", "forward", "accept"),
    chain("inet", "firewalld", "filter_FORWARD", "forward", "accept"),
    chain("bridge", "weavets", "forward", "forward", "accept"),
    chain("ip", "filter", "DOCKER-USER"),
    {
      rule: {
        family: "ip",
        table: "filter",
        chain: "FORWARD",
        handle: 2,
        comment: FORWARD_MARK,
        expr: [{ accept: null }],
      },
    },
    { rule: { family: "ip", table: "filter", chain: "FORWARD", handle: 3, expr: [] } },
    { bogus: 1 },
  ],
});

Deno.test("parseRuleset: foreign ip/inet forward base chains, never weavets' own, and our rules", () => {
  const r = parseRuleset(LISTING);
  assert.deepEqual(r.forwardChains, [
    { family: "ip", table: "filter", name: "FORWARD" },
    { family: "inet", table: "firewalld", name: "filter_FORWARD" },
  ]);
  assert.deepEqual(r.marked, [{ family: "ip", table: "filter", name: "FORWARD", handle: 2 }]);
  assert.equal(r.ownTable, false);
  assert.deepEqual(parseRuleset('{"nftables": 5}'), {
    forwardChains: [],
    marked: [],
    ownTable: false,
  });
});

Deno.test("planForward: accepts at the top of each foreign forward chain, our table, once", () => {
  const plan = planForward(parseRuleset(LISTING), "weave");
  const lines = plan.script.trim().split("\n");
  // FORWARD had one of our two rules: replaced, so exactly two remain.
  assert.deepEqual(lines.slice(0, 5), [
    "delete rule ip filter FORWARD handle 2",
    `insert rule ip filter FORWARD oifname "weave" counter accept comment "${FORWARD_MARK}"`,
    `insert rule ip filter FORWARD iifname "weave" counter accept comment "${FORWARD_MARK}"`,
    `insert rule inet firewalld filter_FORWARD oifname "weave" counter accept comment "${FORWARD_MARK}"`,
    `insert rule inet firewalld filter_FORWARD iifname "weave" counter accept comment "${FORWARD_MARK}"`,
  ]);
  assert.ok(plan.script.includes("table inet weavets_forward {"));
  assert.ok(!plan.script.includes("weavets_npc"), "never above the policy controller");
  // Everything in place: nothing to do.
  const done = {
    forwardChains: [{ family: "ip", table: "filter", name: "FORWARD" }],
    marked: [3, 4].map((handle) => ({ family: "ip", table: "filter", name: "FORWARD", handle })),
    ownTable: true,
  };
  assert.equal(planForward(done, "weave").script, "");
  // Negative control: one rule gone (deleted from outside) is noticed.
  assert.notEqual(planForward({ ...done, marked: done.marked.slice(1) }, "weave").script, "");
});

Deno.test("planForward: a chain name nft cannot take unquoted is skipped and reported", () => {
  const plan = planForward({
    forwardChains: [{ family: "inet", table: "x", name: 'evil" accept; flush ruleset' }],
    marked: [],
    ownTable: true,
  }, "weave");
  assert.equal(plan.script, "");
  assert.equal(plan.skipped.length, 1);
  assert.throws(() => planForward({ forwardChains: [], marked: [], ownTable: false }, 'a"b'));
});

Deno.test("removeForwardScript removes our rules and table, nothing else", () => {
  const r = parseRuleset(LISTING);
  assert.equal(removeForwardScript(r), "delete rule ip filter FORWARD handle 2\n");
  assert.equal(
    removeForwardScript({ ...r, ownTable: true }),
    "delete rule ip filter FORWARD handle 2\ndelete table inet weavets_forward\n",
  );
  assert.equal(removeForwardScript({ forwardChains: [], marked: [], ownTable: false }), "");
});

Deno.test("legacy iptables: in use only with x_tables' filter table; the rules", () => {
  assert.equal(legacyInUse(null), false);
  assert.equal(legacyInUse("nat\n"), false);
  assert.equal(legacyInUse("nat\nfilter\n"), true);
  assert.deepEqual(legacyRules("weave")[0], [
    "-i",
    "weave",
    "-m",
    "comment",
    "--comment",
    FORWARD_MARK,
    "-j",
    "ACCEPT",
  ]);
});

Deno.test("parseOwnCounters sums the counters of our table's rules", () => {
  const json = JSON.stringify({
    nftables: [meta, {
      rule: { expr: [{ match: {} }, { counter: { packets: 3, bytes: 300 } }, { accept: null }] },
    }, { rule: { expr: [{ counter: { packets: 2, bytes: 20 } }] } }],
  });
  assert.deepEqual(parseOwnCounters(json), { packets: 5, bytes: 320 });
});
