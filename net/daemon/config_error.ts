/** A flag or variable that is wrong; the message names it. */
export class ConfigError extends Error {
  override name = "ConfigError";
}
