/**
 * The mesh's secrets from the Kubernetes API (`--kube`), so the daemon never runs an
 * unauthenticated control plane by accident:
 * - the **password** (authenticates the control plane and encrypts the data path) from the Secret
 *   the operator names in WEAVE_PASSWORD_SECRET, which must then exist (a missing one is an
 *   error, not a silent downgrade); unnamed, from `weavets-passwd`, else Weave Net's
 *   `weave-passwd`, else none (data-path encryption stays the operator's choice, as in Weave);
 * - without a password, the **cluster secret** (control plane only) in `weavets-cluster-secret`,
 *   which the manifest ships empty: the first daemon fills it with 32 random bytes (optimistic
 *   concurrency: whoever loses the race reads the winner's).
 * Only a 404 means "absent": any other failure is an error (the daemon exits and is restarted).
 */
import { Buffer } from "node:buffer";
import { isConflict, KubeApiError, type KubeClient } from "./client.ts";
import type { Secret } from "./types.ts";
import { WeavetsError } from "../errors.ts";

export const CLUSTER_SECRET = "weavets-cluster-secret";
/** Looked up in this order when WEAVE_PASSWORD_SECRET names none. */
export const PASSWORD_SECRETS = ["weavets-passwd", "weave-passwd"] as const;
/** The data key of a password Secret (Weave Net's). */
export const PASSWORD_KEY = "weave-passwd";
export const CLUSTER_SECRET_KEY = "secret";

export class KubeSecretError extends WeavetsError {
  override name = "KubeSecretError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("config", message, opts);
  }
}

export interface MeshSecrets {
  password: string | null;
  /** Where the password came from (a Secret's name), for the log. */
  passwordFrom: string | null;
  clusterSecret: string | null;
}

const isNotFound = (e: unknown) => e instanceof KubeApiError && e.status === 404;

async function getOrNull(c: KubeClient, ns: string, name: string): Promise<Secret | null> {
  try {
    return await c.getSecret(ns, name);
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

function passwordOf(s: Secret): string {
  const b64 = s.data?.[PASSWORD_KEY];
  if (!b64) {
    throw new KubeSecretError(
      `Secret ${s.metadata.namespace}/${s.metadata.name} has no key "${PASSWORD_KEY}": create it ` +
        `with --from-file=${PASSWORD_KEY}=FILE`,
    );
  }
  const pw = Buffer.from(b64, "base64").toString("utf8").replace(/\r?\n$/, "");
  if (pw === "") throw new KubeSecretError(`Secret ${s.metadata.name}: the password is empty`);
  return pw;
}

/**
 * The password and cluster secret for this daemon. `named`: WEAVE_PASSWORD_SECRET (null when
 * unset). `random`: 32 random bytes (injected for tests).
 */
export async function resolveMeshSecrets(
  client: KubeClient,
  namespace: string,
  named: string | null,
  random: () => Uint8Array = () => crypto.getRandomValues(new Uint8Array(32)),
): Promise<MeshSecrets> {
  if (named !== null) {
    const s = await getOrNull(client, namespace, named);
    if (!s) {
      throw new KubeSecretError(
        `the password Secret ${namespace}/${named} named by WEAVE_PASSWORD_SECRET does not exist: ` +
          `create it (kubectl -n ${namespace} create secret generic ${named} ` +
          `--from-file=${PASSWORD_KEY}=FILE), or unset WEAVE_PASSWORD_SECRET to run without ` +
          `data-path encryption`,
      );
    }
    return { password: passwordOf(s), passwordFrom: named, clusterSecret: null };
  }
  for (const name of PASSWORD_SECRETS) {
    const s = await getOrNull(client, namespace, name);
    if (s) return { password: passwordOf(s), passwordFrom: name, clusterSecret: null };
  }
  return {
    password: null,
    passwordFrom: null,
    clusterSecret: await clusterSecret(client, namespace, random),
  };
}

async function clusterSecret(
  client: KubeClient,
  namespace: string,
  random: () => Uint8Array,
): Promise<string> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const s = await getOrNull(client, namespace, CLUSTER_SECRET);
    if (!s) {
      throw new KubeSecretError(
        `the Secret ${namespace}/${CLUSTER_SECRET} is missing: it ships with deploy/weavets.yaml ` +
          `(apply the manifest again); the daemon may fill it but not create it`,
      );
    }
    const have = s.data?.[CLUSTER_SECRET_KEY];
    if (have) return have; // the base64 text itself is the secret
    try {
      const filled = await client.updateSecret({
        ...s,
        data: { ...s.data, [CLUSTER_SECRET_KEY]: Buffer.from(random()).toString("base64") },
      });
      return filled.data![CLUSTER_SECRET_KEY];
    } catch (e) {
      if (!isConflict(e)) throw e;
      // Another daemon filled it first: read theirs.
    }
  }
  throw new KubeSecretError(`${CLUSTER_SECRET}: too many conflicting updates`);
}
