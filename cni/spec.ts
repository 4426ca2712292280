/** CNI spec versions this plugin speaks, and version comparison. Pure. */
import { CniError, ErrorCode } from "./errors.ts";

export const SUPPORTED_VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;
export type SpecVersion = (typeof SUPPORTED_VERSIONS)[number];
export const LATEST_VERSION: SpecVersion = "1.1.0";

export function isSupportedVersion(v: unknown): v is SpecVersion {
  return typeof v === "string" && (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** Compares two dotted versions numerically (missing parts count as 0). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

export function atLeast(version: string, min: string): boolean {
  return compareVersions(version, min) >= 0;
}

/** Error 1 when `version` is not one this plugin speaks. */
export function requireSupportedVersion(version: string): SpecVersion {
  if (isSupportedVersion(version)) return version;
  throw new CniError(
    ErrorCode.IncompatibleVersion,
    `cniVersion "${version}" is not supported by weavets; set "cniVersion" in the network ` +
      `config to one of ${SUPPORTED_VERSIONS.join(", ")}`,
  );
}

/** The minimum config version for each command that appeared after 0.3.0. */
const COMMAND_SINCE: Record<string, string> = { CHECK: "0.4.0", GC: "1.1.0", STATUS: "1.1.0" };

/** Error 1 when the config's version predates `command` (as the reference plugins do). */
export function requireCommandAllowed(command: string, version: string): void {
  const since = COMMAND_SINCE[command];
  if (since && !atLeast(version, since)) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      `${command} needs cniVersion ${since} or later, the network config says "${version}"; ` +
        `raise "cniVersion" in the config to use ${command}`,
    );
  }
}
