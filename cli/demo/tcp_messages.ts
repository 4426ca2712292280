/** Messages between the demo's TCP probe (probes.ts) and its sending Worker (tcp_worker.ts). */

export interface TcpSendRequest {
  host: string;
  port: number;
  seconds: number;
}

export type TcpSendResult = { bytes: number } | { error: string };
