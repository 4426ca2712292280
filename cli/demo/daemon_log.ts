/**
 * What a daemon that exited said last, from its log (JSON lines, as the daemon writes them when its
 * stderr is a file, with anything a crash printed in between). Pure.
 */

/** The daemon's own reason: its last error line (message and error), else its last lines. */
export function lastError(log: string): string {
  const lines = log.split("\n").map((l) => l.trim()).filter((l) => l.length > 0);
  for (let i = lines.length - 1; i >= 0; i--) {
    let entry: unknown;
    try {
      entry = JSON.parse(lines[i]);
    } catch {
      continue;
    }
    if (typeof entry !== "object" || entry === null) continue;
    const { level, msg, ts: _ts, component: _c, ...rest } = entry as Record<string, unknown>;
    if (level !== "error" || typeof msg !== "string") continue;
    const detail = Object.entries(rest).map(([k, v]) =>
      `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`
    );
    return [msg, ...detail].join("; ");
  }
  // No error line: an uncaught exception's stack, or nothing at all.
  const plain = lines.filter((l) => !l.startsWith("{"));
  return plain.length > 0 ? plain.slice(-5).join("\n") : "(nothing in its log)";
}
