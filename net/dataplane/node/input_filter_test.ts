import assert from "node:assert/strict";
import { Logger } from "../../log.ts";
import { Registry } from "../../api/metrics.ts";
import type { MeshView, PeerInfo } from "../../mesh/gossip_channel.ts";
import { createInputFilter, type InputFilterOptions } from "./input_filter.ts";

const SELF = "aa:00:00:00:00:00";
const A = "aa:00:00:00:00:01";
const B = "aa:00:00:00:00:02";

/** A kernel stand-in that understands the scripts allowlist.ts writes. */
class FakeNft {
  table: Set<string> | undefined;
  counters = { refused_sleeve: 0, refused_fastdp: 0, refused_api: 0 };
  scripts: string[] = [];
  refuse = false;
  /** Rules in the table: 6 as written (API rule on), fewer when a test flushes a chain. */
  rules = 0;

  run = (script: string, opts: { json?: boolean } = {}): string => {
    if (script.startsWith("list ")) {
      if (!this.table) throw new Error("No such file or directory");
      assert.ok(opts.json);
      const set = { set: { name: "peers", elem: [...this.table] } };
      if (script.startsWith("list set")) return JSON.stringify({ nftables: [set] });
      // As nft lists a table: its named counters, sets and rules (counters only with
      // `list counters`, which the filter must not use: it fetches every table's elements).
      assert.ok(script.startsWith("list table"), script);
      const counters = Object.entries(this.counters).map(([name, packets]) => ({
        counter: { name, packets },
      }));
      const rules = Array.from({ length: this.rules }, () => ({ rule: {} }));
      return JSON.stringify({ nftables: [...counters, set, ...rules] });
    }
    if (this.refuse) throw new Error("nft refused the change: Operation not permitted");
    this.scripts.push(script);
    if (script.includes("delete table")) {
      this.table = undefined;
      for (const k of Object.keys(this.counters)) this.counters[k as "refused_api"] = 0;
    }
    const els = (line: string) =>
      line.slice(line.indexOf("{") + 1, line.indexOf("}")).split(",")
        .map((s) => s.trim()).filter(Boolean);
    for (const line of script.split("\n").map((l) => l.trim())) {
      if (line.startsWith("table inet weavets_input")) {
        this.table = new Set();
        this.rules = 0;
      }
      if (/^(iif|udp|tcp|ip saddr|counter name)/.test(line)) this.rules++;
      if (line.startsWith("elements =")) { for (const e of els(line)) this.table!.add(e); }
      if (line.startsWith("add element")) {
        if (!this.table) throw new Error("No such file or directory");
        for (const e of els(line)) this.table.add(e);
      }
      if (line.startsWith("delete element")) {
        for (const e of els(line)) {
          if (!this.table?.delete(e)) throw new Error("Could not process rule: No such file");
        }
      }
    }
    return "";
  };
}

function meshOf(peers: () => string[]): MeshView & { fire(): void } {
  const cbs: Array<() => void> = [];
  return {
    self: SELF,
    peers: (): PeerInfo[] => peers().map((name) => ({ name, nickname: name, reachable: true })),
    onChange(cb: () => void) {
      cbs.push(cb);
      return () => cbs.splice(cbs.indexOf(cb), 1);
    },
    fire: () => cbs.forEach((cb) => cb()),
  } as unknown as MeshView & { fire(): void };
}

function setup(over: Partial<InputFilterOptions> = {}) {
  const nft = new FakeNft();
  let t = 1_000_000;
  let topology = [SELF, A];
  let records = [{ peer: SELF, addr: "10.0.0.10" }, { peer: A, addr: "10.0.0.1" }];
  const lines: Array<{ msg: string; fields: Record<string, unknown> }> = [];
  const log = new Logger({
    json: true,
    level: "debug",
    sink: {
      write(line) {
        const { msg, ...fields } = JSON.parse(line);
        lines.push({ msg, fields });
      },
    },
  });
  const f = createInputFilter({
    sleevePort: 6783,
    fastdpPort: 6784,
    apiPort: 6784,
    records: () => records,
    log,
    nft: nft.run,
    now: () => t,
    checkMs: 1e9,
    ...over,
  });
  const mesh = meshOf(() => topology);
  return {
    nft,
    f,
    mesh,
    lines,
    advance: (ms: number) => t += ms,
    setTopology: (p: string[]) => topology = p,
    setRecords: (r: typeof records) => records = r,
  };
}

Deno.test("input filter: installs the peers at start, follows the topology and records", () => {
  const s = setup();
  s.f.start(s.mesh);
  try {
    assert.deepEqual([...s.nft.table!], ["10.0.0.1"]);
    assert.equal(s.f.ready(), null);
    // B joins: its record arrives (the data plane calls changed()).
    s.setTopology([SELF, A, B]);
    s.setRecords([{ peer: A, addr: "10.0.0.1" }, { peer: B, addr: "10.0.0.2" }]);
    s.f.changed();
    assert.deepEqual([...s.nft.table!].sort(), ["10.0.0.1", "10.0.0.2"]);
    assert.equal(s.nft.scripts.at(-1), "add element inet weavets_input peers { 10.0.0.2 }\n");
    // A leaves the topology (rmpeer): gone at the next topology change, in one set update.
    s.setTopology([SELF, B]);
    s.mesh.fire();
    assert.deepEqual([...s.nft.table!], ["10.0.0.2"]);
    assert.equal(s.nft.scripts.at(-1), "delete element inet weavets_input peers { 10.0.0.1 }\n");
    // Nothing changed: nothing written.
    const n = s.nft.scripts.length;
    s.mesh.fire();
    assert.equal(s.nft.scripts.length, n);
  } finally {
    s.f.stop();
  }
  assert.equal(s.nft.table, undefined, "removed on stop");
});

Deno.test("input filter: a restart keeps the previous run's addresses for the grace period", () => {
  const s = setup({ graceMs: 30_000 });
  s.nft.table = new Set(["10.0.0.1", "10.0.0.7"]);
  s.f.start(s.mesh);
  try {
    assert.deepEqual([...s.nft.table!].sort(), ["10.0.0.1", "10.0.0.7"]);
    s.advance(29_000);
    s.f.changed();
    assert.ok(s.nft.table!.has("10.0.0.7"));
    s.advance(1_000);
    s.f.changed();
    assert.deepEqual([...s.nft.table!], ["10.0.0.1"], "gone once the grace is over");
  } finally {
    s.f.stop();
  }
});

Deno.test("input filter: after a clean stop, the fast path's peers are kept for the grace", () => {
  const s = setup({ graceMs: 30_000, kernelPeers: () => ["10.0.0.8", "10.0.0.1"] });
  s.f.start(s.mesh);
  try {
    assert.deepEqual([...s.nft.table!].sort(), ["10.0.0.1", "10.0.0.8"]);
    s.advance(30_000);
    s.f.changed();
    assert.deepEqual([...s.nft.table!], ["10.0.0.1"]);
  } finally {
    s.f.stop();
  }
  // Negative control: without the kernel's peers only the records count from the start.
  const t = setup({
    kernelPeers: () => {
      throw new Error("no device");
    },
  });
  t.f.start(t.mesh);
  assert.deepEqual([...t.nft.table!], ["10.0.0.1"]);
  t.f.stop();
});

Deno.test("input filter: no nftables → the start fails with what to do", () => {
  const s = setup();
  s.nft.refuse = true;
  assert.throws(() => s.f.start(s.mesh), /input allow-list.*nft refused the change/);
  assert.equal(s.lines.filter((l) => l.fields.level === "error").length, 1);
  assert.match(String(s.lines[0].fields.hint), /nft list ruleset/);
});

Deno.test("input filter: an update the kernel refuses makes it unready with the reason", () => {
  const s = setup();
  s.f.start(s.mesh);
  try {
    s.nft.refuse = true;
    s.setRecords([{ peer: A, addr: "10.0.0.5" }]);
    s.f.changed();
    assert.match(s.f.ready() ?? "", /input allow-list: cannot install the rules/);
    assert.match(s.f.status().fields[0][1], /NOT INSTALLED/);
    s.nft.refuse = false;
    s.f.changed();
    assert.equal(s.f.ready(), null);
    assert.deepEqual([...s.nft.table!], ["10.0.0.5"]);
  } finally {
    s.f.stop();
  }
});

Deno.test("input filter: a table removed from outside is written again; counts carry over", () => {
  const s = setup();
  s.f.start(s.mesh);
  try {
    s.nft.counters.refused_fastdp = 4;
    s.f.check();
    // flushed by someone: the counters with it
    s.nft.table = undefined;
    s.nft.counters.refused_fastdp = 0;
    s.f.check();
    assert.deepEqual([...s.nft.table!], ["10.0.0.1"]);
    s.nft.counters.refused_fastdp = 1;
    assert.equal(s.f.report().refused.fastdp, 5);
    // A chain flushed by hand: the whole table again, the counts kept.
    s.nft.counters.refused_fastdp = 2;
    s.nft.rules = 3;
    s.f.check();
    assert.equal(s.nft.rules, 6);
    assert.equal(s.f.report().refused.fastdp, 6, "4 before the removal, 2 before the flush");
    assert.equal(s.nft.scripts.at(-1)!.includes("chain data_ports"), true);
    // An element deleted by hand comes back too.
    s.nft.table!.delete("10.0.0.1");
    s.f.check();
    assert.deepEqual([...s.nft.table!], ["10.0.0.1"]);
  } finally {
    s.f.stop();
  }
});

Deno.test("input filter: refused packets are a metric, a status line and a log line per minute", () => {
  const s = setup({ logEveryMs: 60_000 });
  const reg = new Registry();
  s.f.metrics(reg);
  s.f.start(s.mesh);
  try {
    s.f.check();
    assert.equal(s.lines.filter((l) => l.msg.includes("refused")).length, 0, "none: no line");
    s.nft.counters.refused_fastdp = 3;
    s.nft.counters.refused_api = 1;
    s.f.check();
    const warn = s.lines.filter((l) => l.msg.includes("refused packets"));
    assert.equal(warn.length, 1);
    assert.equal(warn[0].fields.fastdp, 3);
    s.nft.counters.refused_fastdp = 300;
    s.advance(30_000);
    s.f.check();
    assert.equal(s.lines.filter((l) => l.msg.includes("refused packets")).length, 1);
    s.advance(30_000);
    s.f.check();
    const again = s.lines.filter((l) => l.msg.includes("refused packets"));
    assert.equal(again.length, 2);
    assert.equal(again[1].fields.fastdp, 297, "what was refused since the last line");
    const text = reg.render();
    assert.match(text, /weavets_input_refused_packets_total\{port="fastdp"\} 300/);
    assert.match(text, /weavets_input_refused_packets_total\{port="api"\} 1/);
    assert.match(text, /weavets_input_allowed_peers 1/);
    assert.equal(s.f.status().fields[1][1], "sleeve 0, fastdp 300, api 1");
  } finally {
    s.f.stop();
  }
});
