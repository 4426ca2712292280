/**
 * Whether a CNI_NETNS path is a network namespace this process can enter: the file exists (a
 * process in another mount namespace may not see the runtime's mount there, only the empty file
 * under it) and is a network namespace (setns succeeds), not just any file.
 */
import { LinuxError } from "../net/linux/errors.ts";
import { inNetns } from "../net/linux/netns.ts";
import { describeCause } from "./errors.ts";

export type NetnsProblem = { missing: true; why: string } | { missing: false; why: string };

/** Null when `path` can be entered; otherwise why not (`missing`: nothing at that path). */
export function netnsProblem(path: string): NetnsProblem | null {
  try {
    inNetns(path, () => undefined);
    return null;
  } catch (e) {
    if (e instanceof LinuxError && e.code === "ENOENT") {
      return { missing: true, why: `${path} does not exist` };
    }
    if (e instanceof LinuxError && e.code === "EINVAL") {
      return {
        missing: false,
        why: `${path} is not a network namespace (an empty file where the runtime's mount is ` +
          "not visible, or another kind of file)",
      };
    }
    return { missing: false, why: `${path} cannot be entered: ${describeCause(e)}` };
  }
}
