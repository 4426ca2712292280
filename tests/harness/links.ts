/** Links for root tests, made and read with iproute2 (the tests' independent oracle). */
import type { Namespaces } from "./netns.ts";
import { ipJson, sh } from "./sh.ts";

/** One end of a veth pair: its name, the namespace it goes to, and its MTU when not the default. */
export interface VethEnd {
  name: string;
  netns: string;
  mtu?: number;
}

/** Creates a veth pair with each end in its namespace (one `ip link add`: nothing half-made). */
export async function addVeth(a: VethEnd, b: VethEnd): Promise<void> {
  const end = (e: VethEnd) => [e.name, "netns", e.netns, ...(e.mtu ? ["mtu", `${e.mtu}`] : [])];
  await sh("ip", "link", "add", ...end(a), "type", "veth", "peer", "name", ...end(b));
}

/** The interface names in `netns`, sorted. */
export async function linkNames(netns: string): Promise<string[]> {
  return (await ipJson<{ ifname: string }[]>(netns, "link", "show")).map((l) => l.ifname).sort();
}

/** The ifindex of `name` in `netns`, or undefined when there is none. */
export async function linkIndex(netns: string, name: string): Promise<number | undefined> {
  const links = await ipJson<{ ifname: string; ifindex: number }[]>(netns, "link", "show");
  return links.find((l) => l.ifname === name)?.ifindex;
}

/** A namespace standing for the nodes' shared L2 network: bridge `br0`, up. Returns its name. */
export async function addUnderlay(ns: Namespaces): Promise<string> {
  const u = ns.add("u");
  await sh("ip", "-n", u, "link", "add", "br0", "type", "bridge");
  await sh("ip", "-n", u, "link", "set", "br0", "up");
  return u;
}

/** Wires node `node` (its `eth0`, given `cidr`) to the underlay's bridge through port `u<i>`. */
export async function joinUnderlay(
  underlay: string,
  node: string,
  i: number,
  cidr: string,
): Promise<void> {
  await addVeth({ name: "eth0", netns: node }, { name: `u${i}`, netns: underlay });
  await sh("ip", "-n", underlay, "link", "set", `u${i}`, "master", "br0", "up");
  await sh("ip", "-n", node, "addr", "add", cidr, "dev", "eth0");
  await sh("ip", "-n", node, "link", "set", "eth0", "up");
}
