import assert from "node:assert/strict";
import { Namespaces } from "../../tests/harness/netns.ts";
import { inNetns } from "../linux/netns.ts";
import { runNft } from "../linux/nftables.ts";
import { Logger } from "../log.ts";
import type { DaemonComponent } from "../daemon/component.ts";
import { npcOffComponent } from "./off.ts";
import { fullScript, TABLE } from "./ruleset.ts";
import { emptyElements } from "./elements.ts";

/** The component does not use the mesh. */
const start = (log: Logger) =>
  void npcOffComponent(log).start?.({} as Parameters<NonNullable<DaemonComponent["start"]>>[0]);

Deno.test({
  name: "npc off: a previous run's table is removed (and said so); none left: nothing said",
  ignore: Deno.uid() !== 0,
}, () => {
  const ns = new Namespaces("wtnpo");
  const lines: string[] = [];
  const log = new Logger({ sink: { write: (l: string) => void lines.push(l) } });
  try {
    const path = `/run/netns/${ns.add("k")}`;
    inNetns(path, () => {
      runNft(fullScript(emptyElements()));
      start(log);
      const tables = JSON.parse(runNft("list tables", { json: true })).nftables
        // deno-lint-ignore no-explicit-any
        .filter((x: any) => x.table?.name === TABLE);
      assert.deepEqual(tables, [], "the table is gone");
      assert.equal(lines.filter((l) => l.includes("removed the rules")).length, 1);
      start(log);
      assert.equal(lines.filter((l) => l.includes("removed the rules")).length, 1);
    });
  } finally {
    ns.cleanup();
  }
});
