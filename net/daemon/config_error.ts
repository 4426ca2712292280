import { WeavetsError } from "../errors.ts";

/** A flag or variable that is wrong; the message names it. */
export class ConfigError extends WeavetsError {
  override name = "ConfigError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("config", message, opts);
  }
}
