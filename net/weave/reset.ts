/**
 * `weavets reset [--weave]` on the node (the plans are net/weave/reset_plan.ts): refuses while a
 * daemon (weavets' or Weave's) holds the ports, then removes, reporting each thing it removed and
 * each it could not. Every step runs even when an earlier one failed, so one run removes all it
 * can; the result says what is left and what to do.
 */
import { runNft } from "../linux/nftables.ts";
import { deleteLink, listLinks } from "../linux/mod.ts";
import { describeCause } from "../cause.ts";
import { nodeForwardIo, removeForward } from "../dataplane/node/forward_filter.ts";
import { detectWeave, type Port } from "./detect.ts";
import { observeNode } from "./observe.ts";
import {
  ownDevicesToDelete,
  ownTables,
  weaveConflists,
  weaveDevicesToDelete,
  weaveIpsets,
  weaveIptablesPlan,
} from "./reset_plan.ts";

export interface ResetResult {
  removed: string[];
  /** What could not be removed, each with what to do. */
  failed: string[];
  /** Notes for the operator (kept on purpose). */
  notes: string[];
}

const result = (): ResetResult => ({ removed: [], failed: [], notes: [] });

async function step(r: ResetResult, what: string, fn: () => Promise<void> | void): Promise<void> {
  try {
    await fn();
  } catch (e) {
    r.failed.push(`${what}: ${describeCause(e)}`);
  }
}

/** Null when nothing holds `ports`; else the refusal. */
export function liveOwners(ports: Port[], proc?: string): string[] | null {
  const v = detectWeave(observeNode(ports, proc), ports);
  return v.alive ? v.evidence : null;
}

export interface OwnResetOptions {
  bridge: string;
  fastdpPort: number;
}

/** weavets' own state: forward accepts, nft tables, devices. (Sockets and data dir: cli/reset.ts.) */
export async function resetOwn(o: OwnResetOptions): Promise<ResetResult> {
  const r = result();
  await step(r, "forward accept rules", async () => {
    r.removed.push(...await removeForward(nodeForwardIo(), o.bridge));
  });
  await step(r, "nft tables", () => {
    const listed = JSON.parse(runNft("list tables", { json: true })) as {
      nftables: Array<{ table?: { family: string; name: string } }>;
    };
    const tables = ownTables(listed.nftables.flatMap((i) => (i.table ? [i.table] : [])));
    if (tables.length === 0) return;
    runNft(tables.map((t) => `delete table ${t}`).join("\n") + "\n");
    r.removed.push(...tables.map((t) => `nft table ${t}`));
  });
  await step(r, "devices", () => {
    // The bridge last: its ports first, so nothing is left enslaved half-way.
    for (const name of ownDevicesToDelete(listLinks(), o).reverse()) {
      deleteLink(name);
      r.removed.push(`device ${name}`);
    }
  });
  return r;
}

export interface WeaveResetOptions {
  bridge: string;
  cniConfDir: string;
  /** Our conflist's file name in cniConfDir (Weave's is disabled only once ours is there). */
  ownConflist: string;
  /** Runs a command; `stdin` fed when given. code 127: not installed. */
  run(
    cmd: string,
    args: string[],
    stdin?: string,
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  readFile(path: string): string | null;
}

/** The iptables front ends to clean: nft-backed always (if installed), legacy when loaded. */
function iptablesFrontEnds(o: WeaveResetOptions): Array<{ save: string; restore: string }> {
  const out = [
    { save: "iptables-nft-save", restore: "iptables-nft-restore" },
    { save: "ip6tables-nft-save", restore: "ip6tables-nft-restore" },
  ];
  if (o.readFile("/proc/net/ip_tables_names")) {
    out.push({ save: "iptables-legacy-save", restore: "iptables-legacy-restore" });
  }
  if (o.readFile("/proc/net/ip6_tables_names")) {
    out.push({ save: "ip6tables-legacy-save", restore: "ip6tables-legacy-restore" });
  }
  return out;
}

/** Weave Net's leftovers. The bridge, its address and the pods on it stay (see reset_plan.ts). */
export async function resetWeave(o: WeaveResetOptions): Promise<ResetResult> {
  const r = result();
  let anyIptables = false;
  for (const fe of iptablesFrontEnds(o)) {
    await step(r, fe.save, async () => {
      const saved = await o.run(fe.save, []);
      if (saved.code === 127) return;
      anyIptables = true;
      if (saved.code !== 0) throw new Error(saved.stderr.trim());
      const plan = weaveIptablesPlan(saved.stdout, o.bridge);
      if (!plan.script) return;
      const done = await o.run(fe.restore, ["--noflush", "-w", "5"], plan.script);
      if (done.code !== 0) throw new Error(`${fe.restore}: ${done.stderr.trim()}`);
      r.removed.push(...plan.removed.map((x) => `${fe.save.replace(/-save$/, "")} ${x}`));
    });
  }
  if (!anyIptables) {
    r.failed.push(
      "iptables: no iptables-nft-save here, so Weave's iptables rules (if any) were not looked " +
        "for; install iptables, or run `weavets reset --weave` from the weavets image",
    );
  }
  // After the rules: a set a rule still uses cannot be destroyed.
  await step(r, "ipsets", async () => {
    const list = await o.run("ipset", ["list", "-n"]);
    if (list.code === 127) {
      r.notes.push("ipset is not installed: Weave's ipsets, if any, stay (unused, harmless)");
      return;
    }
    if (list.code !== 0) throw new Error(list.stderr.trim());
    for (const name of weaveIpsets(list.stdout)) {
      const d = await o.run("ipset", ["destroy", name]);
      if (d.code !== 0) throw new Error(`ipset destroy ${name}: ${d.stderr.trim()}`);
      r.removed.push(`ipset ${name}`);
    }
  });
  await step(r, "devices", () => {
    const links = listLinks();
    for (const name of weaveDevicesToDelete(links)) {
      deleteLink(name);
      r.removed.push(`device ${name}`);
    }
    // Weave's VXLAN vport is not on the bridge; weavets' own is (and is kept).
    const bridge = links.find((l) => l.name === o.bridge);
    const vx = links.find((l) => l.name === "vxlan-6784");
    if (vx && (!bridge || vx.master !== bridge.index)) {
      deleteLink(vx.name);
      r.removed.push(`device ${vx.name}`);
    }
  });
  await step(r, "CNI config", () => {
    let files: string[];
    try {
      files = [...Deno.readDirSync(o.cniConfDir)].map((e) => e.name);
    } catch {
      return; // no config dir: nothing of Weave's there
    }
    const weave = weaveConflists(files);
    if (weave.length === 0) return;
    if (!files.includes(o.ownConflist)) {
      r.failed.push(
        `CNI config: kept ${weave.join(", ")}: ${o.ownConflist} is not in ${o.cniConfDir} yet ` +
          "(install weavets' plugin first: the init container does, then runs this)",
      );
      return;
    }
    for (const f of weave) {
      // Runtimes load only .conf, .conflist and .json: renamed, it is off and kept for a rollback.
      Deno.renameSync(`${o.cniConfDir}/${f}`, `${o.cniConfDir}/${f}.weavets-disabled`);
      r.removed.push(`CNI config ${f} (renamed ${f}.weavets-disabled)`);
    }
  });
  const bridge = listLinks().find((l) => l.name === o.bridge);
  if (bridge) {
    r.notes.push(
      `kept the ${o.bridge} bridge, its address and the pods on it: weavets adopts the bridge ` +
        "and claims those addresses in IPAM at start",
    );
  }
  return r;
}
