/**
 * STATUS against the daemon: `GET /status` answers 200 when ready and 503 with the reason
 * otherwise (error 50, as is no answer at all); `GET /status/peers` tells limited connectivity
 * (error 51: other peers are known but no connection is established).
 */
import * as z from "zod/mini";
import { CniError, ErrorCode } from "../errors.ts";

const TIMEOUT_MS = 5_000;

const statusSchema = z.looseObject({ ready: z.boolean(), reason: z.nullish(z.string()) });
const peersSchema = z.array(z.looseObject({
  name: z.optional(z.string()),
  connections: z.optional(z.array(z.looseObject({
    established: z.optional(z.boolean()),
    state: z.optional(z.string()),
  }))),
}));

async function getJson(base: string, path: string): Promise<{ status: number; body: unknown }> {
  let res: Response;
  try {
    res = await fetch(base + path, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    throw new CniError(
      ErrorCode.PluginNotAvailable,
      `the weavets daemon is not reachable at ${base} (is it running? set WEAVE_HTTP_ADDR or ` +
        '"daemonAddress" if it listens elsewhere)',
      (e as Error).message,
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

export async function checkDaemonStatus(base: string): Promise<void> {
  const st = await getJson(base, "/status");
  const parsed = statusSchema.safeParse(st.body);
  if (!parsed.success || !parsed.data.ready || st.status !== 200) {
    const reason = parsed.success ? parsed.data.reason : undefined;
    throw new CniError(
      ErrorCode.PluginNotAvailable,
      `the weavets daemon is not ready to set up pods: ${reason ?? `GET /status: ${st.status}`}`,
    );
  }
  const pr = await getJson(base, "/status/peers");
  const peers = peersSchema.safeParse(pr.body);
  if (!peers.success) {
    throw new CniError(
      ErrorCode.PluginNotAvailable,
      "cannot read the daemon's peer list (GET /status/peers)",
      peers.error.message,
    );
  }
  const established = peers.data.flatMap((p) => p.connections ?? [])
    .filter((c) => c.established === true || c.state === "established");
  if (peers.data.length > 1 && established.length === 0) {
    throw new CniError(
      ErrorCode.LimitedConnectivity,
      `limited connectivity: ${peers.data.length - 1} other peer(s) known, none connected; ` +
        "pods here reach only pods on this node (see `weavets status connections`)",
    );
  }
}
