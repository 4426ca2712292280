/**
 * The userspace path's UDP socket: big forced buffers, Don't Fragment on the underlay (our own
 * fragments are sized to the path MTU), UDP GSO (UDP_SEGMENT) and GRO when the kernel has them.
 * Opened on the calling thread (in its network namespace); the fd is shared with both Workers.
 */
import {
  closeFd,
  setSockOptInt,
  SOL_UDP,
  UDP_GRO,
  UDP_SEGMENT,
  udpSocket,
} from "../../linux/mod.ts";

const SOL_IP = 0;
const IP_MTU_DISCOVER = 10;
const IP_PMTUDISC_DO = 2;

export interface SleeveSocket {
  fd: number;
  /** UDP_SEGMENT is on: one send carries up to 64 datagrams of `segSize`. */
  gso: boolean;
  /** UDP_GRO is on: one receive may return several datagrams back to back. */
  gro: boolean;
}

function tryOpt(fd: number, level: number, name: number, value: number): boolean {
  try {
    setSockOptInt(fd, level, name, value);
    return true;
  } catch {
    return false;
  }
}

export function openSleeveSocket(port: number, segSize: number, ip = "0.0.0.0"): SleeveSocket {
  const fd = udpSocket({
    ip,
    port,
    nonBlocking: true,
    reuseAddr: true,
    rcvBuf: 8 << 20,
    sndBuf: 8 << 20,
  });
  try {
    setSockOptInt(fd, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
    const gso = tryOpt(fd, SOL_UDP, UDP_SEGMENT, segSize);
    const gro = tryOpt(fd, SOL_UDP, UDP_GRO, 1);
    return { fd, gso, gro };
  } catch (e) {
    closeFd(fd);
    throw e;
  }
}
