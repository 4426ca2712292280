/**
 * STATUS against the daemon: `GET /status` is 200 when ready and 503 with the reason otherwise
 * (error 50 either way it fails); `GET /status/peers` tells limited connectivity (error 51: other
 * peers are known but none is connected).
 */
import * as z from "zod/mini";
import { CniError, ErrorCode } from "../errors.ts";

const peersSchema = z.array(z.looseObject({
  connections: z.optional(z.array(z.looseObject({ state: z.optional(z.string()) }))),
}));

type Get = (path: string) => Promise<string>;

export async function checkDaemonStatus(get: Get): Promise<void> {
  try {
    await get("/status");
  } catch (e) {
    if (!(e instanceof CniError)) throw e;
    throw new CniError(
      ErrorCode.PluginNotAvailable,
      `weavets is not ready to set up pods: ${e.message}`,
      e.details,
    );
  }
  let peers: z.infer<typeof peersSchema>;
  try {
    const raw = JSON.parse(await get("/status/peers"));
    const parsed = peersSchema.safeParse(Array.isArray(raw) ? raw : raw?.peers);
    if (!parsed.success) throw new Error(parsed.error.message);
    peers = parsed.data;
  } catch (e) {
    throw new CniError(
      ErrorCode.PluginNotAvailable,
      "weavets is not ready: cannot read the daemon's peer list (GET /status/peers)",
      e instanceof Error ? e.message : String(e),
    );
  }
  const established = peers.flatMap((p) => p.connections ?? []).filter((c) =>
    c.state === "established"
  );
  if (peers.length > 1 && established.length === 0) {
    throw new CniError(
      ErrorCode.LimitedConnectivity,
      `limited connectivity: ${peers.length - 1} other peer(s) known, none connected; pods ` +
        "here reach only pods on this node (check the peers' firewalls and `weavets status`)",
    );
  }
}
