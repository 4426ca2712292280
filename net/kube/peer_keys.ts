/**
 * Peers' signing keys on their Node objects (`--kube`): each daemon publishes its peer name and
 * public key in an annotation of its own Node, and every daemon trusts those annotations as the
 * authority on which key speaks for which peer name (net/mesh/keys.ts, "kube" bindings). Pure:
 * the Kubernetes I/O is in kube.ts.
 *
 * The annotation is only as trustworthy as who may write it: deploy/weavets.yaml's
 * ValidatingAdmissionPolicy lets the DaemonSet's service account change no Node but the one its
 * pod runs on, and nothing on it but this annotation (docs/PROTOCOL.md, "Authorship").
 */
import { describeCause } from "../cause.ts";
import { z } from "zod";
import type { Logger } from "../log.ts";
import type { MeshView } from "../mesh/gossip_channel.ts";
import { publicKeyFromText, publicKeyToText } from "../mesh/signing.ts";
import type { Node } from "./types.ts";

export const PEER_KEY_ANNOTATION = "weavets.dev/peer-key";

const valueSchema = z.object({
  peer: z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/),
  key: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
}).strict();

export type PeerKeyClaim = z.infer<typeof valueSchema>;

/** The merge patch that publishes `claim` on a Node. */
export function peerKeyPatch(claim: PeerKeyClaim): unknown {
  return { metadata: { annotations: { [PEER_KEY_ANNOTATION]: JSON.stringify(claim) } } };
}

/** The claim a Node's annotation makes; null without one; an error text when malformed. */
export function nodePeerKey(node: Node): PeerKeyClaim | null | { error: string } {
  const raw = node.metadata.annotations?.[PEER_KEY_ANNOTATION];
  if (raw === undefined) return null;
  try {
    const r = valueSchema.safeParse(JSON.parse(raw));
    if (r.success) return r.data;
    return { error: `annotation ${PEER_KEY_ANNOTATION}: ${r.error.issues[0].message}` };
  } catch (e) {
    return { error: `annotation ${PEER_KEY_ANNOTATION}: not JSON (${describeCause(e)})` };
  }
}

export interface VouchedKeys {
  /** Peer name → its key (text) and the node that published it. */
  keys: Map<string, { key: string; node: string }>;
  /** Peer names claimed by more than one node: trusted from none of them. */
  conflicts: Array<{ peer: string; nodes: string[] }>;
  invalid: Array<{ node: string; error: string }>;
}

/** What the Node list vouches for. */
export function vouchedKeys(nodes: Iterable<Node>): VouchedKeys {
  const claims = new Map<string, Array<{ key: string; node: string }>>();
  const invalid: VouchedKeys["invalid"] = [];
  for (const n of nodes) {
    const c = nodePeerKey(n);
    if (c === null) continue;
    if ("error" in c) {
      invalid.push({ node: n.metadata.name, error: c.error });
      continue;
    }
    const list = claims.get(c.peer) ?? [];
    list.push({ key: c.key, node: n.metadata.name });
    claims.set(c.peer, list);
  }
  const keys: VouchedKeys["keys"] = new Map();
  const conflicts: VouchedKeys["conflicts"] = [];
  for (const [peer, list] of claims) {
    if (list.length === 1) keys.set(peer, list[0]);
    else conflicts.push({ peer, nodes: list.map((c) => c.node).sort() });
  }
  return { keys, conflicts, invalid };
}

type KeyedMesh = Pick<MeshView, "self" | "publicKey" | "vouchKey" | "forgetPeer">;

/**
 * What kube.ts needs to publish this peer's key and feed everyone's to the mesh: the Node list
 * vouches for keys (a "kube" binding replaces any other), a deleted Node's peer is forgotten.
 * Conflicts, malformed annotations and refusals are logged when they change, not per event.
 */
export function kubePeerKeys(mesh: KeyedMesh, log: Logger): {
  claim: PeerKeyClaim;
  onNodes(nodes: Node[]): void;
  onNodeDeleted(node: Node): void;
} {
  let reported = "";
  return {
    claim: { peer: mesh.self, key: publicKeyToText(mesh.publicKey) },
    onNodes(nodes) {
      const v = vouchedKeys(nodes);
      const refused: Array<{ peer: string; node: string; reason: string }> = [];
      for (const [peer, { key, node }] of v.keys) {
        const r = mesh.vouchKey(peer, publicKeyFromText(key));
        if (!r.ok) refused.push({ peer, node, reason: r.reason });
      }
      const problems = { conflicts: v.conflicts, invalid: v.invalid, refused };
      const text = JSON.stringify(problems);
      if (text !== reported) {
        reported = text;
        if (v.conflicts.length + v.invalid.length + refused.length > 0) {
          log.error(
            `peer keys on Nodes not trusted: a peer name claimed by several Nodes, or an ` +
              `annotation ${PEER_KEY_ANNOTATION} that is not valid`,
            problems,
          );
        }
      }
    },
    onNodeDeleted(node) {
      const c = nodePeerKey(node);
      if (c === null || "error" in c) return;
      mesh.forgetPeer(c.peer);
      log.info("node deleted: its peer's key is forgotten", { node: node.metadata.name, ...c });
    },
  };
}
