import assert from "node:assert/strict";
import { EXISTING_ID_PREFIX as WEAVE_EXISTING } from "../net/weave/existing.ts";
import {
  attachmentName,
  EXISTING_ID_PREFIX,
  forgetAttachment,
  listAttachments,
  parseAttachmentName,
  recordAttachment,
  staleAttachments,
  vanishedMigrated,
} from "./gc_ledger.ts";

const a = (containerID: string, ifname = "eth0") => ({ containerID, ifname });

Deno.test("gc ledger: only recorded attachments can be stale, and only when not valid", () => {
  const recorded = [a("c1"), a("c1", "net1"), a("c2"), a("c3")];
  const valid = [a("c1"), a("c3"), a("weave-pod"), a("other-net")];
  assert.deepEqual(staleAttachments(recorded, valid), [a("c1", "net1"), a("c2")]);
  // An empty valid list releases all recorded — and still nothing else.
  assert.deepEqual(staleAttachments(recorded, []), recorded);
  assert.deepEqual(staleAttachments([], [a("x")]), []);
});

Deno.test("gc ledger: names round-trip; anything else in the directory is not a record", () => {
  for (const x of [a("c0ffee"), a("abc.def_1-2", "net1"), a("k8s", "eth@0")]) {
    assert.deepEqual(parseAttachmentName(attachmentName(x)), x);
  }
  for (
    const bad of [
      "no-at-sign",
      "@eth0",
      "c1@",
      ".hidden@eth0",
      "c1@has space",
      "c1@" + "x".repeat(16),
      "weave:existing:vethwepl1234567@eth0",
    ]
  ) {
    assert.equal(parseAttachmentName(bad), null, bad);
  }
});

Deno.test("gc ledger: record, list (foreign files apart), forget twice", () => {
  const dir = `${Deno.makeTempDirSync({ prefix: "wtc-ledger-" })}/net`;
  try {
    assert.deepEqual(listAttachments(dir), { recorded: [], foreign: [] }, "no directory yet");
    recordAttachment(dir, a("c1"));
    recordAttachment(dir, a("c2", "net1"));
    recordAttachment(dir, a("c1")); // an ADD retried: one record
    Deno.writeTextFileSync(`${dir}/forged`, "x");
    Deno.mkdirSync(`${dir}/c9@eth0`);
    assert.equal(Deno.statSync(dir).mode! & 0o777, 0o700);
    const l = listAttachments(dir);
    const byName = (x: { containerID: string }, y: { containerID: string }) =>
      x.containerID.localeCompare(y.containerID);
    assert.deepEqual(l.recorded.sort(byName), [a("c1"), a("c2", "net1")]);
    assert.deepEqual(l.foreign.sort(), ["c9@eth0", "forged"]);
    forgetAttachment(dir, a("c1"));
    forgetAttachment(dir, a("c1"));
    assert.deepEqual(listAttachments(dir).recorded, [a("c2", "net1")]);
  } finally {
    Deno.removeSync(dir.slice(0, dir.lastIndexOf("/")), { recursive: true });
  }
});

Deno.test("gc ledger: a migrated pod's claim without a CNI key goes only once its veth is gone", () => {
  const held = [
    { id: "weave:existing:vethwepl1111111", ifname: "eth0" }, // veth there: the pod runs
    { id: "weave:existing:vethwepl2222222", ifname: "eth0" }, // veth gone: the pod went
    { id: "weave:existing:not/a-name", ifname: "eth0" }, // not an interface name: kept
    { id: "weave:expose", ifname: "" },
    { id: "c0ffee", ifname: "eth0" }, // a CNI key: its DEL or the ledger's GC, never this
  ];
  assert.equal(EXISTING_ID_PREFIX, WEAVE_EXISTING, "the daemon's claims are what GC reads");
  const links = new Set(["vethwepl1111111", "weave"]);
  assert.deepEqual(vanishedMigrated(held, (n) => links.has(n)), [held[1]]);
  // Control: with every veth gone, each well-named migrated claim goes — and still nothing else.
  assert.deepEqual(vanishedMigrated(held, () => false), [held[0], held[1]]);
});
