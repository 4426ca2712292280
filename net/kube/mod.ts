/** Kubernetes integration of `weavets daemon --kube`: the API client, its configuration, peers. */
export {
  inClusterConfig,
  type KubeClientConfig,
  kubeconfigConfig,
  KubeConfigError,
  kubeNodeName,
  loadKubeConfig,
  SERVICE_ACCOUNT_DIR,
} from "./config.ts";
export {
  isConflict,
  isGone,
  KubeApiError,
  KubeClient,
  KubeResponseError,
  KubeUnreachableError,
} from "./client.ts";
export { type KubeHandle, READY_REASON, startKube } from "./kube.ts";
export type { KubeOptions, KubeTiming } from "./kube_options.ts";
export { kubePeerKeys, PEER_KEY_ANNOTATION } from "./peer_keys.ts";
export {
  CONFIGMAP_NAME,
  CONFIGMAP_NAMESPACE,
  nodeAddress,
  type PeerRecord,
  PEERS_ANNOTATION,
  peerTargets,
} from "./peers.ts";
