/**
 * A small CRI v1 client (runtime.v1.RuntimeService), the calls kubelet makes to set up and tear
 * down a pod's sandbox — and so its network. Only the messages and fields used here, with the
 * field numbers of k8s.io/cri-api pkg/apis/runtime/v1/api.proto.
 */
import { GrpcClient } from "./grpc.ts";
import { Fields, Writer } from "./protobuf.ts";

const SERVICE = "/runtime.v1.RuntimeService";

export interface PortMapping {
  protocol?: "TCP" | "UDP" | "SCTP";
  containerPort: number;
  hostPort: number;
  hostIp?: string;
}

export interface SandboxSpec {
  name: string;
  namespace: string;
  uid: string;
  attempt?: number;
  hostname?: string;
  logDirectory?: string;
  portMappings?: PortMapping[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** LinuxPodSandboxConfig.cgroup_parent. */
  cgroupParent?: string;
}

export interface SandboxStatus {
  id: string;
  /** SANDBOX_READY (0) or SANDBOX_NOTREADY (1). */
  ready: boolean;
  /** PodSandboxNetworkStatus.ip ("" when the sandbox has no network). */
  ip: string;
  /** Verbose `info` (JSON values), e.g. containerd's "info" with the sandbox's pid. */
  info: Record<string, string>;
}

const PROTOCOLS = { TCP: 0, UDP: 1, SCTP: 2 } as const;

/** PodSandboxConfig (fields: metadata 1, hostname 2, log_directory 3, port_mappings 5, …). */
export function encodeSandboxConfig(s: SandboxSpec): Writer {
  const metadata = new Writer()
    .string(1, s.name)
    .string(2, s.uid)
    .string(3, s.namespace)
    .varint(4, s.attempt ?? 0);
  const config = new Writer()
    .message(1, metadata)
    .string(2, s.hostname ?? s.name)
    .string(3, s.logDirectory);
  for (const p of s.portMappings ?? []) {
    config.message(
      5,
      new Writer()
        .varint(1, PROTOCOLS[p.protocol ?? "TCP"])
        .varint(2, p.containerPort)
        .varint(3, p.hostPort)
        .string(4, p.hostIp),
    );
  }
  config.map(6, s.labels).map(7, s.annotations);
  // LinuxPodSandboxConfig: cgroup_parent 1; security_context 2 with namespace_options 1 (all POD).
  config.message(
    8,
    new Writer().string(1, s.cgroupParent).message(2, new Writer().message(1, new Writer())),
  );
  return config;
}

/** PodSandboxStatusResponse: status 1 (id 1, state 3, network 5 with ip 1), info 2. */
export function decodeSandboxStatus(b: Uint8Array): SandboxStatus {
  const r = Fields.decode(b);
  const status = r.message(1);
  return {
    id: status.string(1),
    ready: status.number(3) === 0,
    ip: status.message(5).string(1),
    info: r.map(2),
  };
}

export class CriClient {
  readonly #grpc: GrpcClient;

  constructor(readonly socketPath: string) {
    this.#grpc = new GrpcClient(socketPath);
  }

  /** VersionResponse: runtime_name 2, runtime_version 3, runtime_api_version 4. */
  async version(): Promise<{ runtimeName: string; runtimeVersion: string; apiVersion: string }> {
    const r = Fields.decode(
      await this.#grpc.call(`${SERVICE}/Version`, new Writer().string(1, "v1").finish(), 5000),
    );
    return { runtimeName: r.string(2), runtimeVersion: r.string(3), apiVersion: r.string(4) };
  }

  /** RunPodSandboxRequest: config 1, runtime_handler 2 → RunPodSandboxResponse: pod_sandbox_id 1. */
  async runPodSandbox(spec: SandboxSpec, timeoutMs = 120_000): Promise<string> {
    const req = new Writer().message(1, encodeSandboxConfig(spec)).finish();
    const r = Fields.decode(await this.#grpc.call(`${SERVICE}/RunPodSandbox`, req, timeoutMs));
    const id = r.string(1);
    if (!id) throw new Error("RunPodSandbox answered without a sandbox id");
    return id;
  }

  /** PodSandboxStatusRequest: pod_sandbox_id 1, verbose 2. */
  async podSandboxStatus(id: string, verbose = false): Promise<SandboxStatus> {
    const req = new Writer().string(1, id).varint(2, verbose).finish();
    return decodeSandboxStatus(await this.#grpc.call(`${SERVICE}/PodSandboxStatus`, req, 30_000));
  }

  /** StopPodSandboxRequest: pod_sandbox_id 1. */
  async stopPodSandbox(id: string, timeoutMs = 120_000): Promise<void> {
    await this.#grpc.call(
      `${SERVICE}/StopPodSandbox`,
      new Writer().string(1, id).finish(),
      timeoutMs,
    );
  }

  /** RemovePodSandboxRequest: pod_sandbox_id 1. */
  async removePodSandbox(id: string, timeoutMs = 60_000): Promise<void> {
    await this.#grpc.call(
      `${SERVICE}/RemovePodSandbox`,
      new Writer().string(1, id).finish(),
      timeoutMs,
    );
  }

  /** ListPodSandboxRequest (no filter) → ListPodSandboxResponse: items 1 (id 1, state 3). */
  async listPodSandbox(): Promise<Array<{ id: string; ready: boolean }>> {
    const r = Fields.decode(
      await this.#grpc.call(`${SERVICE}/ListPodSandbox`, new Uint8Array(), 30_000),
    );
    return r.messages(1).map((s) => ({ id: s.string(1), ready: s.number(3) === 0 }));
  }

  close(): void {
    this.#grpc.close();
  }
}
