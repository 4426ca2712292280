/**
 * Weave Net's router endpoints (weave:router/http.go, weave:prog/weaver/http.go) on the daemon's
 * API: `GET /status/targets`, `POST /connect` and `POST /forget`, with Weave 2.8.1's status codes
 * and bodies. The peers are given as form fields `peer` (repeated) and `replace=true`, in the
 * query or in a form body as `weave connect` sends them, or as JSON {"peer": [...], "replace"}.
 */
import { describeCause } from "../cause.ts";
import { z } from "zod";
import { parsePeerAddress } from "../mesh/peer_address.ts";
import { FORM_TYPE, JSON_TYPE } from "./access.ts";
import { type ApiRoute, errorResponse, jsonResponse, wantsJson } from "./route.ts";

/** What the routes need of the mesh (net/mesh/router.ts's Mesh). */
export interface MeshControl {
  status(): { targets: string[] };
  configuredTargets(): string[];
  setConfiguredTargets(addresses: string[]): void;
}

/** More targets than this in one call is a mistake (each one is dialled and retried). */
export const MAX_PEERS = 1000;

const JsonBody = z.object({
  peer: z.union([z.string(), z.array(z.string()).max(MAX_PEERS)]).optional(),
  replace: z.union([z.boolean(), z.string()]).optional(),
}).strict();

interface PeerForm {
  peers: string[];
  replace: boolean;
}

/** The `peer` and `replace` fields from the query and the body; an error text when unreadable. */
export async function readPeerForm(req: Request): Promise<PeerForm | { error: string }> {
  const url = new URL(req.url);
  const peers = url.searchParams.getAll("peer");
  let replace = url.searchParams.get("replace");
  const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  const text = await req.text();
  if (text !== "" && type === JSON_TYPE) {
    let parsed;
    try {
      parsed = JsonBody.safeParse(JSON.parse(text));
    } catch (e) {
      return { error: `unable to parse form: ${describeCause(e)}` };
    }
    if (!parsed.success) {
      return { error: `unable to parse form: ${parsed.error.issues[0].message}` };
    }
    const p = parsed.data.peer;
    peers.push(...(p === undefined ? [] : typeof p === "string" ? [p] : p));
    if (parsed.data.replace !== undefined) replace = String(parsed.data.replace);
  } else if (text !== "" && type === FORM_TYPE) {
    const form = new URLSearchParams(text);
    peers.push(...form.getAll("peer"));
    // Go's r.FormValue: the body's value comes first.
    replace = form.get("replace") ?? replace;
  }
  if (peers.length > MAX_PEERS) return { error: `at most ${MAX_PEERS} peers at once` };
  return { peers, replace: replace === "true" };
}

/** Weave's connectionMaker check: "host[:port]" with a numeric port, else its error text. */
function peerError(peer: string): string | null {
  try {
    parsePeerAddress(peer);
    return null;
  } catch {
    return `invalid peer name "${peer}", should be host[:port]`;
  }
}

export function meshRoutes(mesh: MeshControl): ApiRoute[] {
  const form = [JSON_TYPE, FORM_TYPE];
  return [
    {
      method: "GET",
      path: "/status/targets",
      // Weave's template: one target per line.
      handle: (req) => {
        const t = mesh.status().targets;
        if (wantsJson(req)) return jsonResponse(t);
        return new Response(t.map((a) => a + "\n").join(""), {
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
      },
    },
    {
      // Dial these peers too (replace=true: only these), as command-line peers. Weave adds the
      // valid ones and answers 400 listing the invalid ones; all valid: 200, empty body.
      method: "POST",
      path: "/connect",
      bodyTypes: form,
      handle: async (req) => {
        const f = await readPeerForm(req);
        if ("error" in f) return errorResponse(400, f.error);
        const errors = f.peers.map(peerError).filter((e): e is string => e !== null);
        const valid = f.peers.filter((p) => peerError(p) === null);
        const kept = f.replace ? [] : mesh.configuredTargets();
        mesh.setConfiguredTargets([...new Set([...kept, ...valid])]);
        return errors.length ? errorResponse(400, errors.join("\n")) : new Response(null);
      },
    },
    {
      // Stop dialling these peers (connections stay up). Weave answers 200 whatever was given.
      method: "POST",
      path: "/forget",
      bodyTypes: form,
      handle: async (req) => {
        const f = await readPeerForm(req);
        if ("error" in f) return errorResponse(400, f.error);
        const gone = new Set<string>();
        for (const p of f.peers) {
          try {
            const { host, port } = parsePeerAddress(p);
            gone.add(`${host}:${port}`);
          } catch {
            // not a target: nothing to forget (Weave ignores it too)
          }
        }
        mesh.setConfiguredTargets(mesh.configuredTargets().filter((a) => !gone.has(a)));
        return new Response(null);
      },
    },
  ];
}
