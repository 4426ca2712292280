/** Validation of interface and namespace names before they reach the kernel. Pure. */

import { invalid, type LinuxError } from "./errors.ts";

/** IFNAMSIZ minus the terminating NUL. */
export const MAX_IFNAME_BYTES = 15;

const enc = new TextEncoder();

/** Why `name` is not a valid Linux interface name, or undefined when it is. */
export function ifNameProblem(name: string): string | undefined {
  const bytes = enc.encode(name).length;
  if (bytes === 0) return "interface name is empty";
  if (bytes > MAX_IFNAME_BYTES) {
    return `interface name is ${bytes} bytes, at most ${MAX_IFNAME_BYTES} allowed`;
  }
  if (name === "." || name === "..") return `interface name cannot be "${name}"`;
  if (name.includes("/")) return "interface name cannot contain '/'";
  if (/[\s:]/.test(name)) return "interface name cannot contain whitespace or ':'";
  if (name.includes("\0")) return "interface name cannot contain NUL";
  return undefined;
}

/** Throws LinuxError EINVAL (op, name) when `name` is not a valid interface name. */
export function checkIfName(op: string, name: string): void {
  const problem = ifNameProblem(name);
  if (problem) throw invalid(op, name, problem);
}

/** Why `name` is not a valid named-netns name (a file in /run/netns), or undefined. */
export function netnsNameProblem(name: string): string | undefined {
  if (name.length === 0) return "netns name is empty";
  if (enc.encode(name).length > 255) return "netns name is longer than 255 bytes";
  if (name === "." || name === "..") return `netns name cannot be "${name}"`;
  if (name.includes("/")) return "netns name cannot contain '/'";
  if (name.includes("\0")) return "netns name cannot contain NUL";
  return undefined;
}

export function checkNetnsName(op: string, name: string): void {
  const problem = netnsNameProblem(name);
  if (problem) throw invalid(op, name, problem);
}

/** Converts a thrown parse error (AddrError) into LinuxError EINVAL for `op` on `object`. */
export function asInvalid<T>(op: string, object: string | undefined, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw invalid(op, object, e instanceof Error ? e.message : String(e)) as LinuxError;
  }
}
