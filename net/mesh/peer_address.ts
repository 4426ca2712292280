/** Peer addresses ("host[:port]") as flags, KUBE_PEERS and the topology give them. Pure. */

/** The control port, as in Weave Net. */
export const DEFAULT_PORT = 6783;

/** Splits "host[:port]" (IPv4 or a name; IPv6 in brackets) and applies the default port. */
export function parsePeerAddress(
  text: string,
  defaultPort: number = DEFAULT_PORT,
): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:\s]+)(?::(\d{1,5}))?$/.exec(text.trim());
  const port = m?.[2] === undefined ? defaultPort : Number(m[2]);
  if (!m || port < 1 || port > 65535) {
    throw new Error(`invalid peer address "${text}": expected HOST or HOST:PORT`);
  }
  return { host: m[1].replace(/^\[|\]$/g, ""), port };
}

/** "host:port" with the default port filled in: the one spelling targets are keyed by. */
export function normalisePeerAddress(text: string, defaultPort: number = DEFAULT_PORT): string {
  const { host, port } = parsePeerAddress(text, defaultPort);
  return `${host}:${port}`;
}

/** The host part of a normalised address. */
export function hostOf(address: string): string {
  return parsePeerAddress(address).host;
}
