/**
 * `weavets reset [--data] [--weave]`: removes what weavets created on this node, or with --weave
 * what Weave Net left (net/weave/reset.ts says what and why). Refuses while a daemon holds the
 * ports. Exit 0 when everything went, 1 when something could not be removed (each named with
 * what to do), 2 on bad usage, 3 when refused because a daemon is running (the init container
 * waits on that one: the pod starts once Weave Net is gone).
 */
import { describeCause } from "../net/cause.ts";
import { parseArgs } from "node:util";
import { cniSocketPathFor } from "../cni/socket.ts";
import { runCommand } from "../net/linux/command.ts";
import { removePendingDir } from "../cni/pending.ts";
import { daemonPorts } from "../net/weave/preflight.ts";
import { liveOwners, resetOwn, type ResetResult, resetWeave } from "../net/weave/reset.ts";
import { UsageError } from "./command.ts";

const USAGE = `usage: weavets reset [--data] [--weave] [flags]

Without --weave: removes everything weavets created on this node — the bridge, the VXLAN device,
the sleeve TAP, its nft tables, its forward accept rules and the CNI socket (with --data also
its data dir). Pods attached to the bridge lose their network: drain the node first.

With --weave: removes Weave Net's leftovers instead — its iptables/ip6tables chains and the rules
in built-in chains that jump to them or name the bridge, its ipsets, the datapath and vethwe-*
devices, and its CNI config (renamed *.weavets-disabled once weavets' own is installed). The
bridge, its address and running pods stay; weavets claims their addresses when it starts.

Both refuse while a daemon (weavets' or Weave's) holds the ports (exit 3, nothing changed).

  --bridge NAME        the bridge (default weave)
  --datadir DIR        weavets' data dir, removed with --data (default /var/lib/weavets)
  --cni-conf-dir DIR   the runtimes' CNI config dir (default /etc/cni/net.d; env CNI_CONF_DIR)
  --fastdp-port PORT   the VXLAN port (default 6784)`;

function print(r: ResetResult): number {
  for (const x of r.removed) console.log(`removed ${x}`);
  for (const x of r.notes) console.log(`note: ${x}`);
  for (const x of r.failed) console.error(`NOT removed: ${x}`);
  if (r.removed.length === 0 && r.failed.length === 0) console.log("nothing to remove");
  return r.failed.length ? 1 : 0;
}

export async function run(args: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args,
      options: {
        data: { type: "boolean" },
        weave: { type: "boolean" },
        bridge: { type: "string", default: "weave" },
        datadir: { type: "string", default: "/var/lib/weavets" },
        "cni-conf-dir": { type: "string" },
        "fastdp-port": { type: "string", default: "6784" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }).values;
  } catch (e) {
    throw new UsageError(describeCause(e));
  }
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  const fastdpPort = Number(v["fastdp-port"]);
  if (!Number.isInteger(fastdpPort) || fastdpPort < 1 || fastdpPort > 65535) {
    throw new UsageError(`--fastdp-port: "${v["fastdp-port"]}" is not a port`);
  }
  const ports = daemonPorts({
    host: "0.0.0.0",
    port: 6783,
    fastdp: true,
    fastdpPort,
    httpAddr: "127.0.0.1:6784",
    metricsAddr: null,
  });
  const live = liveOwners(ports);
  if (live) {
    console.error(
      [
        "weavets reset: refusing: a daemon is running on this node; stop it first " +
        "(weavets: delete its pod or stop the service; Weave Net: delete the weave-net DaemonSet). " +
        "Nothing was changed.",
        ...live.map((l) => `  - ${l}`),
      ].join("\n"),
    );
    return 3;
  }
  if (v.weave) {
    return print(
      await resetWeave({
        bridge: v.bridge!,
        cniConfDir: v["cni-conf-dir"] ?? Deno.env.get("CNI_CONF_DIR") ?? "/etc/cni/net.d",
        ownConflist: "10-weavets.conflist",
        run: runCommand,
        readFile: (p) => {
          try {
            return Deno.readTextFileSync(p);
          } catch {
            return null;
          }
        },
      }),
    );
  }
  const r = await resetOwn({ bridge: v.bridge!, fastdpPort });
  // The CNI socket and kept releases of this namespace (a daemon that was killed leaves them).
  try {
    const ino = Deno.statSync("/proc/self/ns/net").ino!;
    removePendingDir("/proc/self/ns/net");
    Deno.removeSync(cniSocketPathFor(ino));
    r.removed.push(`socket ${cniSocketPathFor(ino)}`);
  } catch {
    // none there
  }
  if (v.data) {
    try {
      Deno.removeSync(v.datadir!, { recursive: true });
      r.removed.push(`data dir ${v.datadir}`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        r.failed.push(`data dir ${v.datadir}: ${describeCause(e)}`);
      }
    }
  }
  return print(r);
}
