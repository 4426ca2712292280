/**
 * What every CNI command is given and what it returns. Types only (a leaf module): the commands,
 * the IPAM sources and the runner that dispatches to them all import it, and it imports nothing
 * that does work.
 */
import type { NetConf } from "./config.ts";
import type { CniEnv } from "./env.ts";

/** A command's stdout object, or nothing (DEL, CHECK, GC and STATUS print nothing on success). */
export type Output = Record<string, unknown> | undefined;

/** One invocation: the parsed config and env, plus stdin and the environment as they came. */
export interface CommandContext {
  conf: NetConf;
  env: CniEnv;
  rawConfig: string;
  /** The process environment (passed on to a delegated plugin unchanged). */
  processEnv: Record<string, string>;
  /**
   * Set when a long-lived process (the daemon) runs the command: work the runtime need not wait
   * for (the gratuitous ARP) runs there after the answer. Absent: the command does it inline.
   */
  defer?: (what: string, task: () => Promise<void>) => void;
  /** Set by the daemon: ends a phase of the command, for its log line (cni/phases.ts). */
  mark?: (phase: string) => void;
}

export type Run = (ctx: CommandContext) => Promise<Output>;
