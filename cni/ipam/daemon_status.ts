/**
 * STATUS against the daemon: `GET /status` answers 200 when ready and 503 with the reason
 * otherwise (error 50, as is no answer at all); `GET /status/connections` lists this node's own
 * connections and the peers it is trying to reach: some, and none established, is limited
 * connectivity (error 51). Other peers' connections (`/status/peers`) say nothing about this
 * node: a node cut off from B and C still knows the B–C connection from gossip.
 */
import * as z from "zod/mini";
import { CniError, describeCause, ErrorCode } from "../errors.ts";
import { daemonFetch, shownAddress } from "./daemon_api.ts";

const TIMEOUT_MS = 5_000;

const statusSchema = z.looseObject({ ready: z.boolean(), reason: z.nullish(z.string()) });
const connectionsSchema = z.array(z.looseObject({
  state: z.string(),
  name: z.optional(z.string()),
  address: z.optional(z.string()),
}));

async function getJson(
  address: string,
  path: string,
): Promise<{ status: number; body: unknown }> {
  let res: Response;
  try {
    res = await daemonFetch(address, path, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    throw new CniError(
      ErrorCode.PluginNotAvailable,
      `the weavets daemon is not reachable at ${shownAddress(address)} (is it running? set ` +
        'WEAVE_HTTP_ADDR or "daemonAddress" if it listens elsewhere)',
      describeCause(e),
    );
  }
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    throw new CniError(
      ErrorCode.PluginNotAvailable,
      `the weavets daemon answered GET ${path} with ${res.status} and no JSON: ${text.trim()}`,
    );
  }
}

/** Error 50 or 51 unless the daemon at `address` (host:port, or a Unix socket) can take pods. */
export async function checkDaemonStatus(address: string): Promise<void> {
  const st = await getJson(address, "/status");
  const parsed = statusSchema.safeParse(st.body);
  if (!parsed.success || !parsed.data.ready || st.status !== 200) {
    const reason = parsed.success ? parsed.data.reason : undefined;
    throw new CniError(
      ErrorCode.PluginNotAvailable,
      `the weavets daemon is not ready to set up pods: ${reason ?? `GET /status: ${st.status}`}`,
    );
  }
  const cr = await getJson(address, "/status/connections");
  const conns = connectionsSchema.safeParse(cr.body);
  if (!conns.success) {
    throw new CniError(
      ErrorCode.PluginNotAvailable,
      "cannot read the daemon's connections (GET /status/connections)",
      conns.error.message,
    );
  }
  const problem = limitedConnectivity(conns.data);
  if (problem) throw new CniError(ErrorCode.LimitedConnectivity, problem);
}

/**
 * Why this node's connectivity is limited, or null: it knows of other peers (it dials them, or
 * they dialled it) and has no established connection to any. A node alone (no targets) is not
 * limited: there is nobody to reach. Pure.
 */
export function limitedConnectivity(conns: { state: string; address?: string }[]): string | null {
  if (conns.length === 0 || conns.some((c) => c.state === "established")) return null;
  const tried = conns.map((c) => c.address).filter((a) => a !== undefined);
  return `limited connectivity: no connection to any other peer (trying ${
    tried.length ? tried.join(", ") : `${conns.length} peer(s)`
  }); pods here reach only pods on this node (see \`weavets status connections\`)`;
}
