/**
 * One way to turn a caught value into text for a log field or an error message: the message of
 * an Error, else the value as a string (a thrown string, number or object). Log it under the field
 * name `error` (the convention: docs/ARCHITECTURE.md; kinds in net/errors.ts).
 */
export function describeCause(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
