/**
 * rtnetlink numbers from linux/rtnetlink.h, if_link.h, if_addr.h, neighbour.h, veth.h (checked
 * against the kernel headers by netlink/rtnl_test.ts when a C compiler is present).
 */

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;

/** struct ifinfomsg is 16 bytes: family u8, pad u8, type u16, index i32, flags u32, change u32. */
export const IFINFOMSG_LEN = 16;
export const IFF_UP = 0x1;

export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_MASTER = 10;
export const IFLA_PROTINFO = 12;
export const IFLA_OPERSTATE = 16;
export const IFLA_LINKINFO = 18;
export const IFLA_NET_NS_FD = 28;
export const IFLA_LINK_NETNSID = 37;
export const IFLA_GSO_MAX_SIZE = 41;
export const RTM_NEWNSID = 88;
export const RTM_GETNSID = 90;
/** struct rtgenmsg: the family byte, padded to 4. */
export const RTGENMSG_LEN = 4;
export const NETNSA_NSID = 1;
export const NETNSA_FD = 3;

export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;

export const VETH_INFO_PEER = 1;

export const IFLA_BRPORT_MODE = 4;

export const IFLA_VXLAN_ID = 1;
export const IFLA_VXLAN_LINK = 3;
export const IFLA_VXLAN_LOCAL = 4;
export const IFLA_VXLAN_TTL = 5;
export const IFLA_VXLAN_LEARNING = 7;
export const IFLA_VXLAN_L2MISS = 13;
export const IFLA_VXLAN_L3MISS = 14;
export const IFLA_VXLAN_PORT = 15;

/** struct ifaddrmsg is 8 bytes: family u8, prefixlen u8, flags u8, scope u8, index u32. */
export const IFADDRMSG_LEN = 8;
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_BROADCAST = 4;

/** struct rtmsg is 12 bytes: family, dst_len, src_len, tos, table, protocol, scope, type, flags u32. */
export const RTMSG_LEN = 12;
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_TABLE = 15;
export const RT_TABLE_UNSPEC = 0;
export const RT_TABLE_MAIN = 254;
export const RTPROT_BOOT = 3;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RT_SCOPE_NOWHERE = 255;
export const RTN_UNICAST = 1;
export const RTNH_F_ONLINK = 4;
export const RTM_F_CLONED = 0x200;

/** struct ndmsg is 12 bytes: family u8, pad u8, pad u16, ifindex i32, state u16, flags u8, type u8. */
export const NDMSG_LEN = 12;
export const NDA_DST = 1;
export const NDA_LLADDR = 2;
export const NDA_VLAN = 5;
export const NDA_PORT = 6;
export const NDA_VNI = 7;
export const NDA_MASTER = 9;
export const NTF_SELF = 0x02;
export const NTF_MASTER = 0x04;
export const NUD_INCOMPLETE = 0x01;
export const NUD_REACHABLE = 0x02;
export const NUD_STALE = 0x04;
export const NUD_DELAY = 0x08;
export const NUD_PROBE = 0x10;
export const NUD_FAILED = 0x20;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;
