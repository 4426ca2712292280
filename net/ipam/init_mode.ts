/**
 * `--ipalloc-init` (Weave's IPALLOC_INIT): how this peer gets its first share of the range. Pure,
 * so the daemon's flag parser checks it at start-up and IPAM resolves it when it starts.
 */
import type { InitMode } from "./types.ts";
import { WeavetsError } from "../errors.ts";

export class IpamConfigError extends WeavetsError {
  override name = "IpamConfigError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("config", message, opts);
  }
}

const PEER_NAME = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * Parses `consensus[=N]` (N defaults to `defaultExpected`: the number of initial peers + 1),
 * `seed=NAME,...` (peer names, any case) or `observer`. Throws IpamConfigError saying what is
 * accepted (the caller names the flag or variable).
 */
export function parseInit(text: string, defaultExpected: number): InitMode {
  const c = /^consensus(?:=([1-9][0-9]{0,4}))?$/.exec(text);
  if (c) return { kind: "consensus", expected: c[1] ? Number(c[1]) : Math.max(1, defaultExpected) };
  if (text === "observer") return { kind: "observer" };
  if (text.startsWith("seed=")) {
    const members = text.slice(5).split(",").map((s) => s.trim().toLowerCase());
    const bad = members.find((m) => !PEER_NAME.test(m));
    if (bad !== undefined) {
      throw new IpamConfigError(
        `seed: "${bad}" is not a peer name (6 hex bytes like aa:bb:cc:dd:ee:ff)`,
      );
    }
    return { kind: "seed", members };
  }
  throw new IpamConfigError(
    `must be consensus, consensus=N, seed=NAME,... or observer, got "${text}"`,
  );
}
