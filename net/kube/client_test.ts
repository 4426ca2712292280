import assert from "node:assert/strict";
import { kindOf } from "../errors.ts";
import { KubeApiError, KubeResponseError, kubeStatusKind, KubeUnreachableError } from "./client.ts";

Deno.test("kube client: the kind of an API server's error status", () => {
  const table: Array<[number, string]> = [
    [404, "not-found"],
    [409, "conflict"],
    [410, "conflict"],
    [401, "config"],
    [403, "config"],
    [408, "unavailable"],
    [429, "unavailable"],
    [500, "unavailable"],
    [503, "unavailable"],
    // Negative controls: a request this client made wrong is a bug, not the operator's to fix.
    [400, "internal"],
    [422, "internal"],
  ];
  for (const [status, want] of table) assert.equal(kubeStatusKind(status), want, String(status));
  assert.equal(kindOf(new KubeApiError(403, "Forbidden", "pods is forbidden")), "config");
  assert.equal(kindOf(new KubeUnreachableError("connect refused")), "unavailable");
  assert.equal(kindOf(new KubeResponseError("not a PodList")), "invalid-input");
});
