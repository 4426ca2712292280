/**
 * Calls the IPAM HTTP routes in process (no server): the path matched as the API server matches
 * it, a Request built for the handler.
 */
import type { ApiRoute } from "../../net/api/route.ts";
import { ipamRoutes } from "../../net/ipam/http.ts";
import type { IpamService } from "../../net/ipam/service.ts";

export async function call(
  svc: IpamService,
  method: string,
  path: string,
  init: RequestInit & { accept?: string } = {},
): Promise<{ status: number; text: string }> {
  const url = new URL(`http://ipam${path}`);
  for (const r of ipamRoutes(svc) as ApiRoute[]) {
    if (r.method !== method) continue;
    const m = new URLPattern({ pathname: r.path }).exec({ pathname: url.pathname });
    if (!m) continue;
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(m.pathname.groups)) if (v !== undefined) params[k] = v;
    const headers = new Headers(init.headers);
    if (init.accept) headers.set("accept", init.accept);
    const res = await r.handle(new Request(url, { ...init, method, headers }), params);
    return { status: res.status, text: await res.text() };
  }
  throw new Error(`no route for ${method} ${path}`);
}
