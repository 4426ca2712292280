/**
 * What `weavets reset` and `weavets reset --weave` remove (pure: what the node shows → the
 * changes). The I/O that reads and applies them is net/weave/reset.ts.
 *
 * weavets' own state: its bridge, the VXLAN device, the sleeve TAP, every nft table whose name
 * starts with "weavets" (masquerading, split horizon, input allow-list, policy controller,
 * forward accepts) and the rules it marked in foreign forward chains (node/firewall.ts).
 *
 * Weave Net's leftovers (weave:net/bridge.go, weave:npc, weave:prog/weave-kube/launch.sh): every
 * iptables/ip6tables chain named WEAVE*, every rule in a built-in chain that jumps to one, names
 * the weave bridge (`-i weave`, `-o weave`, as `FORWARD -o weave -j DROP` does) or says it is
 * Weave Net's in its comment; ipsets named weave-* / weaver-*; the devices datapath, vethwe-bridge,
 * vethwe-datapath, vethwe-pcap, vethwedu. The bridge itself, its address and the pods attached
 * to it stay: running pods keep their gateway, and the daemon claims those addresses in IPAM.
 * Rules weavets marked (comment weavets-forward) are never Weave's.
 */
import { WEAVE_DEVICES } from "./detect.ts";
import { FORWARD_MARK } from "../dataplane/node/firewall.ts";

const BUILTIN = new Set(["INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"]);

/** Splits an iptables-save rule line into arguments, honouring its double quotes. */
export function splitRule(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2]);
  }
  return out;
}

function isWeaveChain(name: string): boolean {
  return /^WEAVE(-|$)/.test(name);
}

/** Is this built-in chain rule Weave's? (its arguments after `-A CHAIN`) */
export function isWeaveRule(args: string[], bridge: string): boolean {
  const comment = args.indexOf("--comment");
  const text = comment >= 0 ? args[comment + 1] ?? "" : "";
  if (text === FORWARD_MARK) return false;
  if (/weave ?net/i.test(text) || /^NOTE: this must go before/.test(text)) return true;
  for (let i = 0; i < args.length - 1; i++) {
    const a = args[i], b = args[i + 1];
    if ((a === "-j" || a === "-g") && isWeaveChain(b)) return true;
    if ((a === "-i" || a === "-o") && b === bridge) return true;
  }
  return false;
}

/** Quotes an argument back for iptables-restore. */
function quote(a: string): string {
  // As iptables-save writes it: in double quotes, with \", \\ and \' escaped.
  return /^[^\s"'\\]+$/.test(a) ? a : `"${a.replace(/(["'\\])/g, "\\$1")}"`;
}

export interface IptablesPlan {
  /** iptables-restore --noflush input (one transaction per table), or "" when clean. */
  script: string;
  /** One line per removed rule or chain, for the operator. */
  removed: string[];
}

/**
 * From `iptables-save` (or ip6tables-save) output: delete Weave's rules in built-in chains,
 * flush every WEAVE* chain (their rules reference each other), then delete them (pure).
 */
export function weaveIptablesPlan(save: string, bridge: string): IptablesPlan {
  const tables: Array<{ name: string; deletes: string[]; chains: string[] }> = [];
  let t: (typeof tables)[number] | undefined;
  for (const raw of save.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("*")) {
      t = { name: line.slice(1), deletes: [], chains: [] };
      tables.push(t);
    } else if (!t || line.startsWith("#") || line === "COMMIT") continue;
    else if (line.startsWith(":")) {
      const chain = line.slice(1).split(/\s+/)[0];
      if (isWeaveChain(chain)) t.chains.push(chain);
    } else if (line.startsWith("-A ")) {
      const args = splitRule(line);
      const chain = args[1];
      if (BUILTIN.has(chain) && isWeaveRule(args.slice(2), bridge)) {
        t.deletes.push(["-D", chain, ...args.slice(2)].map(quote).join(" "));
      }
    }
  }
  const lines: string[] = [];
  const removed: string[] = [];
  for (const x of tables) {
    if (x.deletes.length === 0 && x.chains.length === 0) continue;
    lines.push(`*${x.name}`, ...x.deletes);
    lines.push(...x.chains.map((c) => `-F ${c}`), ...x.chains.map((c) => `-X ${c}`), "COMMIT");
    removed.push(...x.deletes.map((d) => `${x.name}: ${d.replace(/^-D/, "rule")}`));
    removed.push(...x.chains.map((c) => `${x.name}: chain ${c}`));
  }
  return { script: lines.length ? lines.join("\n") + "\n" : "", removed };
}

/** Weave's ipsets among `ipset list -n` (pure). */
export function weaveIpsets(names: string): string[] {
  return names.split("\n").map((n) => n.trim()).filter((n) => /^weave(r)?-/.test(n));
}

export interface LinkSeen {
  name: string;
  kind?: string;
}

/** Weave's devices to delete (pure). Deleting one end of a veth pair deletes the other. */
export function weaveDevicesToDelete(links: LinkSeen[]): string[] {
  const present = new Set(links.map((l) => l.name));
  const out: string[] = [];
  for (const d of WEAVE_DEVICES) {
    if (!present.has(d)) continue;
    if (d === "vethwe-datapath" && out.includes("vethwe-bridge")) continue;
    out.push(d);
  }
  return out;
}

/** weavets' own devices to delete (pure): bridge, VXLAN device, sleeve TAP. */
export function ownDevicesToDelete(
  links: LinkSeen[],
  o: { bridge: string; fastdpPort: number },
): string[] {
  const own = [o.bridge, `vxlan-${o.fastdpPort}`, "vethwe-tap"];
  return own.filter((n) => links.some((l) => l.name === n));
}

/** weavets' nft tables among `nft -j list tables` entries (pure): "family name" pairs. */
export function ownTables(tables: Array<{ family: string; name: string }>): string[] {
  return tables.filter((t) => /^weavets(_|$)/.test(t.name)).map((t) => `${t.family} ${t.name}`);
}

/** Weave's conflist names in a CNI config dir listing (pure). */
export function weaveConflists(files: string[]): string[] {
  return files.filter((f) => /^\d*-?weave\.(conflist|conf|json)$/.test(f));
}
