/**
 * Which plugin this run is. The binary is installed under several names (weavets, and Weave
 * Net's weave-net and weave-ipam), and a runtime or another plugin execs it by the name in a
 * config's `type` or `ipam.type`: exec'd as the IPAM plugin of another plugin's config (a bridge
 * with `"ipam": {"type": "weave-ipam"}`), it hands out addresses only. Pure.
 */
import { NETWORK_TYPES, OWN_TYPES } from "./config.ts";

/**
 * True when this run is the IPAM plugin named by the config's `ipam.type`. `execName` is the file
 * name the plugin was exec'd by when known (a compiled binary; a launcher script runs Deno, whose
 * name says nothing): then that name is the judge, as Weave Net's argv[0]; otherwise the config
 * decides (`ipam.type` one of the plugin's own names under another plugin's `type`).
 */
export function isIpamInvocation(raw: unknown, execName: string | undefined): boolean {
  if (typeof raw !== "object" || raw === null) return false;
  const conf = raw as { type?: unknown; ipam?: { type?: unknown } };
  const ipamType = conf.ipam?.type;
  if (typeof ipamType !== "string" || ipamType === conf.type) return false;
  if (execName !== undefined) return ipamType === execName;
  return OWN_TYPES.includes(ipamType) && !NETWORK_TYPES.includes(String(conf.type));
}
