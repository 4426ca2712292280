/**
 * Validates Kubernetes manifests against the API schemas that `kubernetes-models` generates from
 * the Kubernetes OpenAPI spec, in two passes, as the API server itself would reject them:
 *
 * - `schemaErrors`: the generated JSON-schema validators — types, required fields, formats.
 * - `typeCheckErrors`: those validators accept unknown fields, but the API server's strict field
 *   validation (kubectl's default since 1.27) rejects them, and a typo like `hostNetwrk` is exactly
 *   that. The same package's TypeScript types are exact, so each document is type-checked as an
 *   object literal (`deno check`), whose excess-property check reports any field not in the schema.
 */
import { parseAllDocuments } from "yaml";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { ClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import { ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { ValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import { ValidatingAdmissionPolicyBinding } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding";
import { REPO_ROOT } from "../harness/binary.ts";

export type Doc = Record<string, unknown>;

interface Kind {
  validate(doc: Doc): void;
  /** The module and interface of the exact type, for the unknown-field pass. */
  typeModule: string;
  typeName: string;
}

function kind<T>(
  Model: new (d: T) => { validate(): void },
  typeModule: string,
  typeName: string,
): Kind {
  return { validate: (d) => new Model(d as T).validate(), typeModule, typeName };
}

/** The kinds a weavets manifest may hold, by "apiVersion/kind". */
const KINDS: Record<string, Kind> = {
  "v1/ServiceAccount": kind(ServiceAccount, "v1/ServiceAccount", "IServiceAccount"),
  "v1/ConfigMap": kind(ConfigMap, "v1/ConfigMap", "IConfigMap"),
  "v1/Secret": kind(Secret, "v1/Secret", "ISecret"),
  "rbac.authorization.k8s.io/v1/ClusterRole": kind(
    ClusterRole,
    "rbac.authorization.k8s.io/v1/ClusterRole",
    "IClusterRole",
  ),
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": kind(
    ClusterRoleBinding,
    "rbac.authorization.k8s.io/v1/ClusterRoleBinding",
    "IClusterRoleBinding",
  ),
  "rbac.authorization.k8s.io/v1/Role": kind(
    Role,
    "rbac.authorization.k8s.io/v1/Role",
    "IRole",
  ),
  "rbac.authorization.k8s.io/v1/RoleBinding": kind(
    RoleBinding,
    "rbac.authorization.k8s.io/v1/RoleBinding",
    "IRoleBinding",
  ),
  "apps/v1/DaemonSet": kind(DaemonSet, "apps/v1/DaemonSet", "IDaemonSet"),
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy": kind(
    ValidatingAdmissionPolicy,
    "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy",
    "IValidatingAdmissionPolicy",
  ),
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding": kind(
    ValidatingAdmissionPolicyBinding,
    "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding",
    "IValidatingAdmissionPolicyBinding",
  ),
};

/** Parses a multi-document YAML manifest (anchors resolved); throws on YAML errors. */
export function parseManifest(text: string): Doc[] {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new Error("manifest: empty YAML stream");
  return docs.map((d, i) => {
    if (d.errors.length > 0) throw new Error(`document ${i}: ${d.errors[0].message}`);
    const v = d.toJS({ maxAliasCount: 100 });
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      throw new Error(`document ${i}: not a mapping`);
    }
    return v as Doc;
  });
}

function kindOf(doc: Doc, i: number): Kind | string {
  const key = `${doc.apiVersion}/${doc.kind}`;
  return KINDS[key] ?? `document ${i}: unsupported apiVersion/kind "${key}"`;
}

function label(doc: Doc, i: number): string {
  const name = (doc.metadata as { name?: string } | undefined)?.name;
  return `document ${i} (${doc.kind} ${name ?? "?"})`;
}

/** Pass 1: one message per invalid document (empty when all are valid). */
export function schemaErrors(docs: Doc[]): string[] {
  const errors: string[] = [];
  docs.forEach((doc, i) => {
    const k = kindOf(doc, i);
    if (typeof k === "string") return void errors.push(k);
    try {
      k.validate(doc);
    } catch (e) {
      errors.push(`${label(doc, i)}: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  return errors;
}

/** Pass 2: the type checker's messages: unknown fields (and wrong types); empty when none. */
export async function typeCheckErrors(docs: Doc[]): Promise<string[]> {
  const lines: string[] = [];
  const imports = new Set<string>();
  docs.forEach((doc, i) => {
    const k = kindOf(doc, i);
    if (typeof k === "string") return void lines.push(`// ${k}`);
    imports.add(`import type { ${k.typeName} } from "kubernetes-models/${k.typeModule}";`);
    lines.push(
      `// ${label(doc, i)}`,
      `export const doc${i}: ${k.typeName} = ${JSON.stringify(doc)};`,
    );
  });
  const dir = Deno.makeTempDirSync({ prefix: "wtk-manifest-" });
  try {
    const file = `${dir}/manifest_check.ts`;
    Deno.writeTextFileSync(file, [...imports, ...lines, ""].join("\n"));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--config", `${REPO_ROOT}/deno.json`, file],
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.success) return [];
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    const found = text.split("\n").filter((l) => /TS\d+/.test(l)).map((l) => l.trim());
    return found.length > 0 ? found : [text.trim()];
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
