/**
 * Where the daemon's password comes from, and what to warn about. Pure apart from reading the
 * password file through HostFacts. The password authenticates the control plane and encrypts
 * the data path (docs/PROTOCOL.md §2):
 * - `--password-file FILE` (preferred: a 0400 file, e.g. a mounted Secret);
 * - `--password PW` works but warns: any local user can read a command line (`ps`);
 * - `WEAVE_PASSWORD`, as in Weave Net: the daemon removes it from its environment once read
 *   (scrub_env.ts), so no child process (nft, ip) inherits it and /proc/<pid>/environ does not
 *   show it;
 * - with `--kube`, `WEAVE_PASSWORD_SECRET` names a Kubernetes Secret that must exist
 *   (net/kube/secrets.ts); without any of these the cluster secret authenticates the control
 *   plane. Outside Kubernetes, no password at all is allowed but warned about.
 */
import { describeCause } from "../cause.ts";
import { ConfigError } from "./config_error.ts";

export interface PasswordConfig {
  password: string | null;
  /** With --kube: the Secret holding the password (WEAVE_PASSWORD_SECRET). */
  passwordSecret: string | null;
  warnings: string[];
}

export function parsePassword(
  flags: { password?: string; passwordFile?: string; kube: boolean },
  env: Record<string, string | undefined>,
  readFile: (path: string) => string,
): PasswordConfig {
  const warnings: string[] = [];
  let password: string | null = null;
  if (flags.password !== undefined && flags.passwordFile !== undefined) {
    throw new ConfigError("--password and --password-file: give only one");
  }
  if (flags.passwordFile !== undefined) {
    const file = flags.passwordFile;
    let text: string;
    try {
      text = readFile(file);
    } catch (e) {
      throw new ConfigError(`--password-file: cannot read "${file}": ${describeCause(e)}`);
    }
    password = text.replace(/\r?\n$/, "");
    if (password === "") throw new ConfigError(`--password-file: "${file}" is empty`);
  } else if (flags.password !== undefined) {
    if (flags.password === "") throw new ConfigError("--password: must not be empty");
    password = flags.password;
    warnings.push(
      "--password puts the password on the command line, where any local user can read it: " +
        "use --password-file (or WEAVE_PASSWORD)",
    );
  } else if (env.WEAVE_PASSWORD) password = env.WEAVE_PASSWORD;

  const named = env.WEAVE_PASSWORD_SECRET ?? "";
  let passwordSecret: string | null = null;
  if (named !== "") {
    if (!flags.kube) throw new ConfigError("WEAVE_PASSWORD_SECRET: only with --kube");
    if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(named)) {
      throw new ConfigError(`WEAVE_PASSWORD_SECRET: not a Secret name, got "${named}"`);
    }
    if (password !== null) {
      throw new ConfigError("WEAVE_PASSWORD_SECRET: a password is also given; give only one");
    }
    passwordSecret = named;
  }
  if (password === null && !flags.kube) {
    warnings.push(
      "no password: peers are not authenticated and traffic is not encrypted (anyone who " +
        "reaches the control port can join); use --password-file on any network you do not " +
        "fully control",
    );
  }
  return { password, passwordSecret, warnings };
}
