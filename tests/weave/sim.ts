/**
 * A simulated Weave Net 2.8.1 node inside a throwaway namespace, built from what Weave leaves on a
 * node (weave:net/bridge.go, weave:prog/weave-kube/launch.sh): the `weave` bridge with its expose
 * address and MTU 1376, `vxlan-6784`, the `vethwe-bridge`/`vethwe-datapath` pair, a `datapath`
 * device (a bridge here: this kernel has no ODP or dummy, and only the name matters), its iptables chains and rules
 * (including `FORWARD -o weave -j DROP` and NPC's), its ipsets (when the ipset tool is there),
 * `10-weave.conflist` in a CNI config dir, and pods on the bridge with Weave addresses. A stand-in
 * for weaver (a process named `weaver`) can hold TCP and UDP 6783.
 */
import { addVeth } from "../harness/links.ts";
import { withNamespaces } from "../harness/netns.ts";
import { sh, shTry } from "../harness/sh.ts";

export const WEAVE_CONFLIST = JSON.stringify({
  cniVersion: "0.3.0",
  name: "weave",
  plugins: [
    { name: "weave", type: "weave-net", hairpinMode: true },
    { type: "portmap", capabilities: { portMappings: true }, snat: true },
  ],
});

/** iptables-restore input with Weave's chains and rules (filter and nat), as 2.8.1 leaves them. */
export const WEAVE_IPTABLES = `*filter
:WEAVE-NPC - [0:0]
:WEAVE-NPC-DEFAULT - [0:0]
:WEAVE-NPC-EGRESS - [0:0]
:WEAVE-NPC-INGRESS - [0:0]
:WEAVE-CANARY - [0:0]
-A INPUT -d 127.0.0.1/32 -p tcp -m tcp --dport 6784 -m addrtype ! --src-type LOCAL -m conntrack ! --ctstate RELATED,ESTABLISHED -m comment --comment "Block non-local access to Weave Net control port" -j DROP
-A INPUT -i weave -j WEAVE-NPC-EGRESS
-A FORWARD -i weave -m comment --comment "NOTE: this must go before '-j KUBE-FORWARD'" -j WEAVE-NPC-EGRESS
-A FORWARD -o weave -m comment --comment "NOTE: this must go before '-j KUBE-FORWARD'" -j WEAVE-NPC
-A FORWARD -o weave -m state --state NEW -j NFLOG --nflog-group 86
-A FORWARD -o weave -j DROP
-A FORWARD -i weave ! -o weave -j ACCEPT
-A FORWARD -o weave -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A WEAVE-NPC -m state --state RELATED,ESTABLISHED -j ACCEPT
-A WEAVE-NPC -m state ! --state NEW -j DROP
-A WEAVE-NPC -j WEAVE-NPC-DEFAULT
-A WEAVE-NPC -j WEAVE-NPC-INGRESS
-A WEAVE-NPC-EGRESS -m state --state RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:WEAVE - [0:0]
:WEAVE-CANARY - [0:0]
-A POSTROUTING -j WEAVE
-A WEAVE -s 10.32.0.0/12 -d 224.0.0.0/4 -j RETURN
-A WEAVE ! -s 10.32.0.0/12 -d 10.32.0.0/12 -j MASQUERADE
-A WEAVE -s 10.32.0.0/12 ! -d 10.32.0.0/12 -j MASQUERADE
COMMIT
`;

export const WEAVE_IPSETS = [
  "weaver-no-masq-local",
  "weave-;rGqyMIl1HN^cfDki~Z$3]6!N",
  "weave-k?Z;25^M}|1s7P3|H9i;*;MhG",
];

export async function hasIpset(): Promise<boolean> {
  return (await shTry("ipset", ["version"])).code === 0;
}

export interface WeavePod {
  ns: string;
  ip: string;
  veth: string;
}

/** Builds Weave's state in `node` (a namespace); `confDir` gets 10-weave.conflist. */
export async function simulateWeave(
  node: string,
  opts: { confDir: string; pods: Array<{ ns: string; ip: string }>; bridgeCidr?: string },
): Promise<WeavePod[]> {
  const ip = (...a: string[]) => sh("ip", "-n", node, ...a);
  await ip("link", "add", "weave", "mtu", "1376", "type", "bridge");
  await ip("addr", "add", opts.bridgeCidr ?? "10.32.0.1/12", "dev", "weave");
  await ip("link", "set", "weave", "up");
  await ip("link", "add", "datapath", "mtu", "1376", "type", "bridge");
  await ip(
    "link",
    "add",
    "vethwe-bridge",
    "mtu",
    "1376",
    "type",
    "veth",
    "peer",
    "name",
    "vethwe-datapath",
  );
  await ip("link", "set", "vethwe-bridge", "master", "weave", "up");
  await ip("link", "add", "vxlan-6784", "type", "vxlan", "external", "dstport", "6784");
  const x = (...a: string[]) => sh("ip", "netns", "exec", node, ...a);
  const restore = await shTry(
    "ip",
    ["netns", "exec", node, "iptables-restore", "--noflush"],
    WEAVE_IPTABLES,
  );
  if (restore.code !== 0) throw new Error(`iptables-restore: ${restore.stderr}`);
  if (await hasIpset()) {
    await x("ipset", "create", WEAVE_IPSETS[0], "hash:net");
    await x("ipset", "add", WEAVE_IPSETS[0], "10.32.0.0/13");
    for (const s of WEAVE_IPSETS.slice(1)) await x("ipset", "create", s, "hash:ip");
  }
  Deno.mkdirSync(opts.confDir, { recursive: true });
  Deno.writeTextFileSync(`${opts.confDir}/10-weave.conflist`, WEAVE_CONFLIST);
  const pods: WeavePod[] = [];
  let n = 0;
  for (const p of opts.pods) {
    const veth = `vethwepl${node.slice(-3)}${n++}`.slice(0, 15);
    await addVeth({ name: "eth0", netns: p.ns, mtu: 1376 }, { name: veth, netns: node, mtu: 1376 });
    await ip("link", "set", veth, "master", "weave", "up");
    await sh("ip", "-n", p.ns, "addr", "add", `${p.ip}/12`, "dev", "eth0");
    await sh("ip", "-n", p.ns, "link", "set", "eth0", "up");
    await sh(
      "ip",
      "-n",
      p.ns,
      "route",
      "add",
      "default",
      "via",
      (opts.bridgeCidr ?? "10.32.0.1/12").split("/")[0],
    );
    pods.push({ ns: p.ns, ip: p.ip, veth });
  }
  return pods;
}

/** The node's network state, to compare before and after. */
export async function snapshot(node: string): Promise<Record<string, string>> {
  const x = async (...a: string[]) => {
    const r = await shTry("ip", ["netns", "exec", node, ...a]);
    return r.code === 0 ? r.stdout : `exit ${r.code}: ${r.stderr}`;
  };
  // iptables-save's header/footer comments carry a timestamp: everything else must match.
  const noStamp = (s: string) => s.split("\n").filter((l) => !l.startsWith("#")).join("\n");
  return {
    links: await x("ip", "-d", "-j", "link", "show"),
    addresses: await x("ip", "-j", "addr", "show"),
    iptables: noStamp(await x("iptables-save")),
    ip6tables: noStamp(await x("ip6tables-save")),
    // -s: without counters, which traffic moves (the pods' own IPv6 neighbour discovery).
    nft: await x("nft", "-s", "list", "ruleset"),
    ipsets: (await hasIpset()) ? await x("ipset", "list") : "(no ipset tool)",
  };
}

/** A process named `weaver` holding TCP and UDP 6783 in `node` until killed. */
export function weaverStandIn(node: string): Deno.ChildProcess {
  const py = [
    "import ctypes, socket, sys",
    "ctypes.CDLL(None).prctl(15, b'weaver', 0, 0, 0)",
    "t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
    "t.bind(('0.0.0.0', 6783)); t.listen()",
    "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', 6783))",
    "print('ready', flush=True)",
    "sys.stdin.read()",
  ].join("\n");
  return new Deno.Command("ip", {
    args: ["netns", "exec", node, "python3", "-c", py],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

/** A simulated Weave node and where its files are (withWeaveNode). */
export interface WeaveNode {
  node: string;
  /** Two pods on the bridge: 10.32.0.2 and 10.32.0.3. */
  pods: string[];
  /** A temporary directory for the test's files, removed afterwards. */
  tmp: string;
  /** The CNI config dir holding 10-weave.conflist. */
  confDir: string;
}

/**
 * Runs `fn` on a simulated Weave node with two pods, in namespaces named with `prefix`; the
 * namespaces and the temporary directory go afterwards, also when `fn` throws.
 */
export function withWeaveNode<T>(prefix: string, fn: (w: WeaveNode) => Promise<T>): Promise<T> {
  return withNamespaces(prefix, async (ns) => {
    const node = ns.add("node");
    const pods = [ns.add("p"), ns.add("p")];
    const tmp = Deno.makeTempDirSync({ prefix: `${prefix}-` });
    try {
      const confDir = `${tmp}/net.d`;
      await simulateWeave(node, {
        confDir,
        pods: [{ ns: pods[0], ip: "10.32.0.2" }, { ns: pods[1], ip: "10.32.0.3" }],
      });
      return await fn({ node, pods, tmp, confDir });
    } finally {
      Deno.removeSync(tmp, { recursive: true });
    }
  });
}

/** Stops a weaverStandIn and waits for it. */
export async function stopStandIn(standIn: Deno.ChildProcess): Promise<void> {
  try {
    standIn.kill("SIGKILL");
  } catch {
    // already gone
  }
  await standIn.status;
  await standIn.stdout.cancel().catch(() => {});
}
