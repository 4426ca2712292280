/**
 * Structured logging: one line per event. JSON lines when stderr is not a terminal (what
 * `kubectl logs` and log shippers read), a compact readable form on a terminal.
 * Never pass secrets (passwords, keys) as fields.
 */

export type Level = "debug" | "info" | "warn" | "error";
export type Fields = Record<string, unknown>;

const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogSink {
  write(line: string): void;
}

const encoder = new TextEncoder();
const stderrSink: LogSink = {
  write(line) {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  },
};

export interface LoggerOptions {
  level?: Level;
  /** Shared with the loggers derived by `with`, so `setLevel` reaches all of them. */
  levelRef?: { level: Level };
  json?: boolean;
  sink?: LogSink;
  /** Fields added to every line (e.g. the component). */
  base?: Fields;
}

function envLevel(): Level {
  try {
    const v = Deno.env.get("WEAVETS_LOG_LEVEL");
    if (v && v in RANK) return v as Level;
  } catch {
    // no env permission: keep the default
  }
  return "info";
}

export class Logger {
  readonly #levelRef: { level: Level };
  readonly #json: boolean;
  readonly #sink: LogSink;
  readonly #base: Fields;

  constructor(opts: LoggerOptions = {}) {
    this.#levelRef = opts.levelRef ?? { level: opts.level ?? envLevel() };
    this.#json = opts.json ?? !Deno.stderr.isTerminal();
    this.#sink = opts.sink ?? stderrSink;
    this.#base = opts.base ?? {};
  }

  get level(): Level {
    return this.#levelRef.level;
  }

  /**
   * Changes the level of this logger and of every logger derived from it (before or after):
   * the daemon's --log-level, applied after components made their loggers at import time.
   */
  setLevel(level: Level): void {
    this.#levelRef.level = level;
  }

  /** A logger that adds `fields` to every line, e.g. `log.with({ component: "ipam" })`. */
  with(fields: Fields): Logger {
    return new Logger({
      levelRef: this.#levelRef,
      json: this.#json,
      sink: this.#sink,
      base: { ...this.#base, ...fields },
    });
  }

  debug(msg: string, fields?: Fields): void {
    this.#emit("debug", msg, fields);
  }
  info(msg: string, fields?: Fields): void {
    this.#emit("info", msg, fields);
  }
  warn(msg: string, fields?: Fields): void {
    this.#emit("warn", msg, fields);
  }
  error(msg: string, fields?: Fields): void {
    this.#emit("error", msg, fields);
  }

  #emit(level: Level, msg: string, fields?: Fields): void {
    if (RANK[level] < RANK[this.level]) return;
    const all = { ...this.#base, ...fields };
    for (const [k, v] of Object.entries(all)) {
      if (v instanceof Error) all[k] = v.message;
    }
    const ts = new Date().toISOString();
    if (this.#json) {
      this.#sink.write(JSON.stringify({ ts, level, msg, ...all }));
      return;
    }
    const extra = Object.entries(all)
      .map(([k, v]) => `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v)}`)
      .join(" ");
    this.#sink.write(`${ts} ${level.toUpperCase().padEnd(5)} ${msg}${extra ? " " + extra : ""}`);
  }
}

/** The process-wide logger. Components derive their own with `log.with({ component })`. */
export const log = new Logger();
