/**
 * Throwaway network namespaces for root tests. Names carry a caller prefix plus a random
 * run id, so parallel runs never collide, and `cleanup` removes exactly what was created.
 */
import { removeNodeState } from "../../cni/node_state.ts";
import { shSync } from "./sh.ts";

/** True when the process can build namespaces; root tests use `ignore: !IS_ROOT`. */
export const IS_ROOT = Deno.uid() === 0;

let counter = 0;
// Test files run by one `deno test --parallel` share a pid: a random run id keeps names apart.
const RUN_ID = Array.from(
  crypto.getRandomValues(new Uint8Array(3)),
  (b) => b.toString(16).padStart(2, "0"),
)
  .join("");

export class Namespaces {
  readonly #made: string[] = [];
  constructor(readonly prefix: string) {
    if (!/^[a-z][a-z0-9-]{0,5}$/.test(prefix)) throw new Error(`bad netns prefix ${prefix}`);
  }

  /** Creates a namespace with loopback up; returns its name (path: /run/netns/NAME). */
  add(label = "ns"): string {
    const name = `${this.prefix}${RUN_ID}-${label}${counter++}`;
    const r = shSync("ip", "netns", "add", name);
    if (r.code !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
    this.#made.push(name);
    shSync("ip", "-n", name, "link", "set", "lo", "up");
    return name;
  }

  /**
   * Deletes every namespace this object created (links inside go with them), and the CNI socket
   * a daemon killed in one of them left behind.
   */
  cleanup(): void {
    for (const name of this.#made.splice(0).reverse()) {
      removeNodeState(`/run/netns/${name}`);
      shSync("ip", "netns", "delete", name);
    }
  }
}

/** Runs `fn` with a fresh Namespaces and always cleans up, also when `fn` throws. */
export async function withNamespaces<T>(
  prefix: string,
  fn: (ns: Namespaces) => Promise<T> | T,
): Promise<T> {
  const ns = new Namespaces(prefix);
  try {
    return await fn(ns);
  } finally {
    ns.cleanup();
  }
}
