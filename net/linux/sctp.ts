/** Whether this kernel has SCTP: a socket of that protocol can be made (the module may load). */
import { AF_INET, libc } from "./libc.ts";

const SOCK_STREAM = 1;
const IPPROTO_SCTP = 132;

export function sctpAvailable(): boolean {
  const fd = libc.socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP);
  if (fd < 0) return false;
  libc.close(fd);
  return true;
}
