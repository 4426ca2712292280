/**
 * NFLOG: packets that an nftables `log group N` statement hands to user space, read from an
 * AF_NETLINK/NETLINK_NETFILTER socket bound to the group (linux/netfilter/nfnetlink_log.h). The
 * socket is opened in the calling thread's network namespace and polled without blocking
 * (`receive`), so a caller reads it from a timer. Decoding is pure (decodeNflog).
 */
import { Errno } from "./errno.ts";
import { LinuxError } from "./errors.ts";
import {
  AF_NETLINK,
  check,
  errno,
  libc,
  MSG_DONTWAIT,
  SO_RCVBUF,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_SOCKET,
} from "./libc.ts";
import {
  decodeAttrs,
  decodeError,
  decodeMessages,
  type Message,
  MessageEncoder,
  NLM_F_ACK,
  NLM_F_REQUEST,
  NLMSG_ERROR,
} from "./netlink/codec.ts";

const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_ULOG = 4;
const NFULNL_MSG_PACKET = 0;
const NFULNL_MSG_CONFIG = 1;
const NFULA_CFG_CMD = 1;
const NFULA_CFG_MODE = 2;
const NFULA_CFG_TIMEOUT = 4;
const NFULA_CFG_QTHRESH = 5;
const NFULNL_CFG_CMD_BIND = 1;
const NFULNL_COPY_PACKET = 2;
const NFULA_PAYLOAD = 9;
const NFULA_PREFIX = 10;
const AF_UNSPEC = 0;

/** One logged packet: the rule's prefix and the first bytes of the packet from its IP header. */
export interface NflogPacket {
  prefix: string;
  payload: Uint8Array;
}

export interface NflogSocket {
  /** Every packet waiting now (none: an empty list); never blocks. */
  receive(): NflogPacket[];
  close(): void;
}

const BUFFER = 1 << 16;

/**
 * Binds NFLOG group `group`, copying `copyRange` bytes of each packet. Fails with EBUSY when
 * another socket of this namespace has the group.
 */
export function openNflog(group: number, copyRange = 128): NflogSocket {
  const op = `bind NFLOG group ${group}`;
  const fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) throw new LinuxError(op, errno());
  const buf = new Uint8Array(BUFFER);
  try {
    const sa = new Uint8Array(12);
    new DataView(sa.buffer).setUint16(0, AF_NETLINK, true);
    check(libc.bind(fd, sa, sa.length), op);
    const size = new Uint8Array(4);
    new DataView(size.buffer).setInt32(0, 1 << 20, true);
    check(libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, size, 4), op);
    let seq = 1;
    const configure = (fill: (m: MessageEncoder) => void) => {
      const m = new MessageEncoder(
        (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG,
        NLM_F_REQUEST | NLM_F_ACK,
      );
      m.raw(nfgenmsg(AF_UNSPEC, group));
      fill(m);
      const msg = m.finish(seq);
      const n = Number(libc.sendto(fd, msg, BigInt(msg.length), 0, sa, sa.length));
      if (n !== msg.length) throw new LinuxError(op, errno() || Errno.EIO);
      const ack = waitAck(fd, buf, seq++);
      if (ack !== 0) throw new LinuxError(op, ack);
    };
    configure((m) => m.attr(NFULA_CFG_CMD, Uint8Array.of(NFULNL_CFG_CMD_BIND)));
    configure((m) => {
      const mode = new Uint8Array(6); // nfulnl_msg_config_mode {be32 range, u8 mode, u8 pad}
      new DataView(mode.buffer).setUint32(0, copyRange, false);
      mode[4] = NFULNL_COPY_PACKET;
      m.attr(NFULA_CFG_MODE, mode);
      // Deliver each packet as it comes, not batched for a second.
      m.attr(NFULA_CFG_QTHRESH, be32(1));
      m.attr(NFULA_CFG_TIMEOUT, be32(0));
    });
  } catch (e) {
    libc.close(fd);
    throw e;
  }
  let open = true;
  return {
    receive(): NflogPacket[] {
      const out: NflogPacket[] = [];
      while (open) {
        const n = Number(libc.recvfrom(fd, buf, BigInt(buf.length), MSG_DONTWAIT, null, null));
        if (n < 0) {
          const e = errno();
          if (e === Errno.EINTR) continue;
          // EAGAIN: drained. ENOBUFS: the kernel dropped some (counted by nftables anyway).
          if (e === Errno.EAGAIN || e === Errno.ENOBUFS) break;
          throw new LinuxError("read NFLOG", e);
        }
        out.push(...decodeNflog(decodeMessages(buf.slice(0, n))));
      }
      return out;
    },
    close() {
      if (!open) return;
      open = false;
      libc.close(fd);
    },
  };
}

/** The packets among netlink messages (pure). */
export function decodeNflog(msgs: Message[]): NflogPacket[] {
  const out: NflogPacket[] = [];
  for (const m of msgs) {
    if (m.type !== ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET)) continue;
    const attrs = decodeAttrs(m.payload, 4); // after the nfgenmsg
    const payload = attrs.get(NFULA_PAYLOAD);
    if (!payload) continue;
    out.push({ prefix: attrs.str(NFULA_PREFIX) ?? "", payload });
  }
  return out;
}

function waitAck(fd: number, buf: Uint8Array<ArrayBuffer>, seq: number): number {
  // The kernel answers a request on this socket at once; a few empty polls are plenty.
  for (let tries = 0; tries < 1000; tries++) {
    const n = Number(libc.recvfrom(fd, buf, BigInt(buf.length), MSG_DONTWAIT, null, null));
    if (n < 0) {
      const e = errno();
      if (e === Errno.EAGAIN || e === Errno.EINTR) continue;
      return e;
    }
    for (const m of decodeMessages(buf.subarray(0, n))) {
      if (m.type === NLMSG_ERROR && m.seq === seq) return decodeError(m).errno;
    }
  }
  return Errno.ETIMEDOUT;
}

function nfgenmsg(family: number, resId: number): Uint8Array {
  const b = new Uint8Array(4); // {u8 family, u8 version 0, be16 res_id}
  b[0] = family;
  new DataView(b.buffer).setUint16(2, resId, false);
  return b;
}

function be32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, false);
  return b;
}
