/**
 * What the kernel decides for a new connection, computed from the very elements loaded into it:
 * the rules of ruleset.ts, step by step, over Elements. `weavets policy check` answers with this,
 * and the property tests hold it to the reference semantics, so the loaded state (not a second
 * model of the policies) is what both check.
 */
import { formatIPv4, parseIPv4 } from "../addr/mod.ts";
import { CLASS_BITS, type Elements, markText } from "./elements.ts";
import type { Protocol } from "./types.ts";

export interface Connection {
  src: number;
  dst: number;
  /** "ICMP" stands for any protocol without ports. */
  protocol: Protocol | "ICMP";
  port: number;
}

/** "pass": not policed here; "allow": policed and allowed; "deny": policed, dropped. */
export type Outcome = "pass" | "allow" | "deny";

export interface Verdict {
  /** The source or destination is an address of this node's range no pod holds (yet). */
  unbound: boolean;
  egress: Outcome;
  ingress: Outcome;
  /** The peer classes the kernel computes for the destination (egress) and source (ingress). */
  dst: PeerClasses;
  src: PeerClasses;
}

export interface PeerClasses {
  pod: number;
  block: number;
}

/** Lookup structures over Elements, built once per loaded state. */
export class Evaluator {
  readonly #el: Elements;
  /** Interval sets: element prefix ("ip . mark . proto") → [lo, hi] of the last field. */
  readonly #ranges = new Map<string, Map<string, Array<[number, number]>>>();

  constructor(el: Elements) {
    this.#el = el;
  }

  evaluate(c: Connection): Verdict {
    const unbound = this.#unbound(c.src) || this.#unbound(c.dst);
    const dst = this.classesOf(c.dst);
    const src = this.classesOf(c.src);
    return {
      unbound,
      egress: this.#has("eg_policed", formatIPv4(c.src))
        ? (this.#allowed("eg", c.src, dst, c) ? "allow" : "deny")
        : "pass",
      ingress: this.#has("in_policed", formatIPv4(c.dst))
        ? (this.#allowed("in", c.dst, src, c) ? "allow" : "deny")
        : "pass",
      dst,
      src,
    };
  }

  /** Allowed end to end on this node: not unbound, and each direction passes or allows. */
  passes(c: Connection): boolean {
    const v = this.evaluate(c);
    return !v.unbound && v.egress !== "deny" && v.ingress !== "deny";
  }

  /** The pod class (bits of pod_bit_N) and block class (bits of block_bit_N) of an address. */
  classesOf(ip: number): PeerClasses {
    const text = formatIPv4(ip);
    let pod = 0;
    let block = 0;
    for (let b = 0; b < CLASS_BITS; b++) {
      if (this.#has(`pod_bit_${b}`, text)) pod |= 1 << b;
      if (this.#inRange(`block_bit_${b}`, "", ip)) block |= 1 << b;
    }
    return { pod, block };
  }

  #unbound(ip: number): boolean {
    return this.#inRange("local_ranges", "", ip) && !this.#has("local_pods", formatIPv4(ip));
  }

  /** The chain `ingress`/`egress` of ruleset.ts: any peer, then pod class, then block class. */
  #allowed(d: "in" | "eg", local: number, peer: PeerClasses, c: Connection): boolean {
    const ip = formatIPv4(local);
    // ICMP and other protocols without ports: nft's l4proto never equals an element's.
    const proto = c.protocol === "ICMP" ? "icmp" : c.protocol.toLowerCase();
    if (
      this.#has(`${d}_all_port`, `${ip} . ${proto} . ${c.port}`) ||
      this.#inRange(`${d}_all_range`, `${ip} . ${proto}`, c.port)
    ) return true;
    return [peer.pod, peer.block].some((cls) => {
      const mark = markText(cls);
      return this.#has(`${d}_any`, `${ip} . ${mark}`) ||
        this.#has(`${d}_port`, `${ip} . ${mark} . ${proto} . ${c.port}`) ||
        this.#inRange(`${d}_range`, `${ip} . ${mark} . ${proto}`, c.port);
    });
  }

  #has(set: string, el: string): boolean {
    return this.#el.get(set)?.has(el) ?? false;
  }

  /** Interval lookup on the last field of elements starting with `prefix`. */
  #inRange(set: string, prefix: string, value: number): boolean {
    let bySet = this.#ranges.get(set);
    if (!bySet) {
      bySet = new Map();
      for (const el of this.#el.get(set) ?? []) {
        const cut = el.lastIndexOf(" . ");
        const [pre, last] = cut < 0 ? ["", el] : [el.slice(0, cut), el.slice(cut + 3)];
        const [a, b = a] = last.split("-");
        const num = (t: string) => (t.includes(".") ? parseIPv4(t) : Number(t));
        const list = bySet.get(pre) ?? [];
        list.push([num(a), num(b)]);
        bySet.set(pre, list);
      }
      this.#ranges.set(set, bySet);
    }
    return (bySet.get(prefix) ?? []).some(([lo, hi]) => value >= lo && value <= hi);
  }
}
