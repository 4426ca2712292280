/**
 * net/linux — the only code in weavets that touches the kernel: libc via FFI, rtnetlink
 * (links, addresses, routes, neighbours, FDB), network namespaces, TAP, sysctl, AF_PACKET, UDP
 * sockets. Every call is synchronous and acts on the calling thread's current network namespace,
 * so `inNetns(path, () => createVeth(...))` works; read the per-thread rule in netns.ts.
 * Every failure throws LinuxError (op, errno, code, object).
 */

export { LinuxError } from "./errors.ts";
export { Errno, errnoDescription, errnoName } from "./errno.ts";
export { ifNameProblem, MAX_IFNAME_BYTES } from "./names.ts";
export {
  AF_INET,
  AF_PACKET,
  check,
  closeFd,
  cstr,
  errno,
  libc,
  MSG_DONTWAIT,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  openFd,
  readFd,
  SO_RCVBUFFORCE,
  SO_SNDBUFFORCE,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
  SOL_UDP,
  UDP_GRO,
  UDP_SEGMENT,
  waitReadable,
  writeFd,
} from "./libc.ts";
export {
  createNetns,
  currentNetnsInode,
  deleteNetns,
  inNetns,
  NETNS_RUN_DIR,
  netnsExists,
  netnsPath,
  openNetnsFd,
} from "./netns.ts";
export {
  createBridge,
  createDummy,
  createVeth,
  deleteLink,
  findLink,
  getLink,
  type Link,
  linkIndex,
  listLinks,
  moveToNetns,
  renameLink,
  setGsoMaxSize,
  setHairpin,
  setLinkDown,
  setLinkUp,
  setMac,
  setMaster,
  setMtu,
  setNoMaster,
  type VethOptions,
} from "./link.ts";
export { createVxlan, type VxlanOptions } from "./vxlan.ts";
export {
  addAddress,
  type AddAddressOptions,
  type Address,
  deleteAddress,
  listAddresses,
} from "./addr.ts";
export {
  addRoute,
  deleteRoute,
  listRoutes,
  type ListRoutesOptions,
  replaceRoute,
  type Route,
  type RouteScope,
  type RouteSpec,
} from "./route.ts";
export {
  addFdb,
  addNeigh,
  appendFdb,
  deleteFdb,
  deleteNeigh,
  type FdbEntry,
  type FdbSpec,
  listFdb,
  listNeigh,
  type Neigh,
  type NeighSpec,
  type NeighState,
  replaceFdb,
  replaceNeigh,
} from "./neigh.ts";
export {
  closeTap,
  openTap,
  type Tap,
  type TapOptions,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_TSO_ECN,
  TUN_F_UFO,
  TUN_F_USO4,
  TUN_F_USO6,
  VIRTIO_NET_HDR_LEN,
} from "./tap.ts";
export { readSysctl, writeSysctl } from "./sysctl.ts";
export { netnsIdOf, netnsPathsById } from "./nsid.ts";
export { sendGratuitousArp } from "./packet.ts";
export {
  decodeSockaddrIn,
  getSockOptInt,
  localPort,
  recvFrom,
  sendTo,
  setSockOptInt,
  SOCKADDR_IN_LEN,
  sockaddrIn,
  udpSocket,
  type UdpSocketOptions,
} from "./udp.ts";
export { formatIp, parseIp } from "./ip.ts";
export {
  decodeEchoReply,
  type EchoReply,
  encodeEchoRequest,
  inetChecksum,
  openIcmpSocket,
  receiveEchoReply,
  sendEchoRequest,
} from "./icmp.ts";
