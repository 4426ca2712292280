/**
 * TAP devices via /dev/net/tun. The raw fd is for synchronous read/write (readFd/writeFd or
 * libc.read/write) from a Worker: Deno.FsFile on a TAP is half-duplex (a pending read blocks
 * writes). The device lives as long as the fd is open (it is not made persistent).
 */

import { LinuxError } from "./errors.ts";
import { closeFd, errno, libc, O_CLOEXEC, O_NONBLOCK, O_RDWR, openFd } from "./libc.ts";
import { checkIfName } from "./names.ts";

export const TUNSETIFF = 0x400454ca;
export const TUNSETOFFLOAD = 0x400454d0;
export const TUNSETVNETHDRSZ = 0x400454d8;
export const IFF_TAP = 0x0002;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;
const IFREQ_LEN = 40;

/** TUNSETOFFLOAD flags: what the reader of the TAP accepts in frames it receives. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
export const TUN_F_UFO = 0x10;
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;

/** Size of struct virtio_net_hdr (without num_buffers) that prefixes frames with vnetHdr. */
export const VIRTIO_NET_HDR_LEN = 10;

export interface TapOptions {
  /** Prefix every frame with a virtio_net_hdr (needed for offloads). */
  vnetHdr?: boolean;
  /** TUN_F_* flags for TUNSETOFFLOAD (requires vnetHdr). */
  offloads?: number;
  /** vnet header size (e.g. 12 with num_buffers); kernel default 10. */
  vnetHdrSize?: number;
  /** IFF_MULTI_QUEUE: open the same name again for another queue. */
  multiQueue?: boolean;
  /** O_NONBLOCK on the fd (reads return EAGAIN instead of waiting). */
  nonBlocking?: boolean;
}

export interface Tap {
  fd: number;
  /** The device name the kernel gave (the requested one, or the expansion of a "%d"). */
  name: string;
}

function ioctlInt(fd: number, request: number, value: number, op: string, name: string): void {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, value, true);
  if (libc.ioctl(fd, BigInt(request), b) < 0) throw new LinuxError(op, errno(), name);
}

/** Creates (or attaches to) TAP device `name` with IFF_TAP|IFF_NO_PI; returns its fd. */
export function openTap(name: string, opts: TapOptions = {}): Tap {
  const op = "open tap";
  checkIfName(op, name);
  const fd = openFd("/dev/net/tun", O_RDWR | O_CLOEXEC | (opts.nonBlocking ? O_NONBLOCK : 0), op);
  try {
    const ifr = new Uint8Array(IFREQ_LEN);
    ifr.set(new TextEncoder().encode(name));
    const flags = IFF_TAP | IFF_NO_PI | (opts.vnetHdr ? IFF_VNET_HDR : 0) |
      (opts.multiQueue ? IFF_MULTI_QUEUE : 0);
    new DataView(ifr.buffer).setUint16(16, flags, true);
    if (libc.ioctl(fd, BigInt(TUNSETIFF), ifr) < 0) throw new LinuxError(op, errno(), name);
    const nul = ifr.indexOf(0);
    const actual = new TextDecoder().decode(ifr.subarray(0, nul < 0 ? 16 : Math.min(nul, 16)));
    if (opts.vnetHdrSize !== undefined) {
      ioctlInt(fd, TUNSETVNETHDRSZ, opts.vnetHdrSize, "set tap vnet header size", actual);
    }
    if (opts.offloads !== undefined) {
      // TUNSETOFFLOAD takes its flags by value, not through a pointer.
      if (libc.ioctlValue(fd, BigInt(TUNSETOFFLOAD), BigInt(opts.offloads)) < 0) {
        throw new LinuxError("set tap offloads", errno(), actual);
      }
    }
    return { fd, name: actual };
  } catch (e) {
    closeFd(fd);
    throw e;
  }
}

/** Closes a TAP fd; a non-persistent TAP device disappears with its last fd. */
export function closeTap(tap: Tap): void {
  closeFd(tap.fd);
}
