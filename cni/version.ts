/** VERSION: which spec versions this plugin speaks. Pure and dependency-free (called often). */
import { LATEST_VERSION, SUPPORTED_VERSIONS } from "./spec.ts";

/** The answer to VERSION; stdin is `{"cniVersion": ...}` (anything else: answer in the latest). */
export function versionInfo(stdin: string): Record<string, unknown> {
  let requested: unknown;
  try {
    requested = JSON.parse(stdin)?.cniVersion;
  } catch {
    // VERSION must answer even without a usable config
  }
  return {
    cniVersion: typeof requested === "string" && requested !== "" ? requested : LATEST_VERSION,
    supportedVersions: [...SUPPORTED_VERSIONS],
  };
}
