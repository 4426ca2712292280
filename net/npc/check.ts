/**
 * `GET /npc/check?src=&dst=&port=&protocol=`, what `weavets policy check` asks: both ends by
 * namespace/name or address, answered by the engine from the compiled state the kernel holds.
 */
import { formatIPv4, parseIPv4 } from "../addr/mod.ts";
import { errorResponse, jsonResponse } from "../api/route.ts";
import type { PolicyEngine } from "./engine.ts";
import { objectKey, type Protocol } from "./types.ts";

export /** `GET /npc/check?src=&dst=&port=&protocol=`: the answer of `weavets policy check`. */
function checkConnection(engine: PolicyEngine, req: Request, synced: boolean): Response {
  if (!synced) return errorResponse(503, "not synced with the API server yet");
  const q = new URL(req.url).searchParams;
  const resolve = (what: string): number | string => {
    const v = q.get(what) ?? "";
    if (/^\d+\.\d+\.\d+\.\d+$/.test(v)) {
      try {
        return parseIPv4(v);
      } catch {
        return `${what}: invalid address "${v}"`;
      }
    }
    const pod = engine.model.pods.get(v);
    const bound = [...engine.model.bindings()].find(([, b]) => objectKey(b) === v)?.[0];
    const ip = pod?.ips.find((i) => engine.model.podKeyAt(i) === v) ?? bound;
    if (ip !== undefined) return ip;
    return pod
      ? `${what}: pod ${v} has no address yet`
      : `${what}: no pod ${v} (namespace/name or an address)`;
  };
  const src = resolve("src");
  const dst = resolve("dst");
  if (typeof src === "string") return errorResponse(400, src);
  if (typeof dst === "string") return errorResponse(400, dst);
  const protocol = (q.get("protocol") ?? "TCP").toUpperCase();
  if (!["TCP", "UDP", "SCTP", "ICMP"].includes(protocol)) {
    return errorResponse(400, `protocol: ${protocol} (TCP, UDP, SCTP or ICMP)`);
  }
  const port = Number(q.get("port") ?? "0");
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return errorResponse(400, `port: ${q.get("port")} (0 to 65535)`);
  }
  const answer = engine.check({ src, dst, protocol: protocol as Protocol | "ICMP", port });
  return jsonResponse({
    src: { address: formatIPv4(src), pod: engine.model.podKeyAt(src) ?? null },
    dst: { address: formatIPv4(dst), pod: engine.model.podKeyAt(dst) ?? null },
    protocol,
    port,
    ...answer,
  });
}
