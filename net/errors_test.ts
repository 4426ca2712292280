import assert from "node:assert/strict";
import { z } from "zod";
import { ERROR_KINDS, type ErrorKind, kindOf, logLevelFor, WeavetsError } from "./errors.ts";

Deno.test("errors: kindOf — weavets' own errors carry theirs, foreign ones by name, else internal", () => {
  class Sub extends WeavetsError {
    constructor() {
      super("conflict", "taken");
    }
  }
  const table: Array<[unknown, ErrorKind]> = [
    [new WeavetsError("config", "bad flag"), "config"],
    [new Sub(), "conflict"],
    [new Deno.errors.NotFound("x"), "not-found"],
    [new Deno.errors.AlreadyExists("x"), "conflict"],
    [new Deno.errors.AddrInUse("x"), "conflict"],
    [new Deno.errors.ConnectionRefused("x"), "unavailable"],
    [new Deno.errors.TimedOut("x"), "unavailable"],
    [new Deno.errors.PermissionDenied("x"), "system"],
    [new Deno.errors.InvalidData("x"), "invalid-input"],
    [
      (() => {
        try {
          JSON.parse("{");
        } catch (e) {
          return e;
        }
      })(),
      "invalid-input",
    ],
    [z.object({ a: z.string() }).safeParse({}).error, "invalid-input"],
    // Negative controls: nothing else gets a kind it did not ask for.
    [new Error("boom"), "internal"],
    [new TypeError("x is undefined"), "internal"],
    ["a thrown string", "internal"],
    [{ kind: "config" }, "internal"],
    [undefined, "internal"],
  ];
  for (const [e, want] of table) assert.equal(kindOf(e), want, String(e));
});

Deno.test("errors: a WeavetsError keeps its message, cause and details", () => {
  const cause = new Deno.errors.PermissionDenied("EACCES");
  const e = new WeavetsError("system", "cannot write /var/lib/weave", {
    cause,
    details: { file: "/var/lib/weave/x" },
  });
  assert.equal(e.message, "cannot write /var/lib/weave");
  assert.equal(e.cause, cause);
  assert.deepEqual(e.details, { file: "/var/lib/weave/x" });
  assert.ok(e instanceof Error);
  assert.equal(new WeavetsError("internal", "x").cause, undefined);
});

Deno.test("errors: logLevelFor — what others send wrongly or will pass warns, what must be fixed errs", () => {
  const want: Record<ErrorKind, string> = {
    "invalid-input": "warn",
    "too-large": "warn",
    config: "error",
    unavailable: "warn",
    conflict: "warn",
    "not-found": "info",
    system: "error",
    internal: "error",
  };
  assert.deepEqual(Object.keys(want).sort(), [...ERROR_KINDS].sort());
  for (const k of ERROR_KINDS) assert.equal(logLevelFor(k), want[k], k);
});
