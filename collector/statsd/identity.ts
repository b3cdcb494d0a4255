// Who sent a StatsD line: every edge Envoy's cluster stats describe starts at the proxy that sent them.
// In order (mesh-telemetry.md §3, §6; interface.md `statsd.senders`):
//
//   1. DogStatsD tags naming the proxy's workload:
//        App Mesh  `appmesh.virtual_node` + `appmesh.mesh` (ENABLE_ENVOY_STATS_TAGS=1), or the metrics
//                  extension's `VirtualNode` / `VirtualGateway` + `Mesh` dimensions;
//        Consul    `consul.source.service` (+ `consul.source.namespace`), else its fixed `local_cluster`.
//   2. `statsd.senders`: the sender's IP → { workload, namespace, version?, …free-form labels }. Plain
//      StatsD has no tags at all: this is the only way to name its sender.
//   3. Neither: the sender's address itself, as a node of kind `unknown` (interface.md: "a caller nobody
//      can identify") named by the address, so two unnamed proxies stay two nodes and the address tells
//      the operator which entry to add to `statsd.senders`.
//
// App Mesh virtual nodes are read with the same grammar as their cluster names (`<name>_<namespace>` on
// EKS), so a proxy's own node and the node other proxies' clusters point at get the same id. Without a
// Kubernetes namespace, the mesh name is the namespace (interface.md: "for AWS App Mesh without one: the
// mesh name") — for the sender and for the App Mesh nodes its clusters name.
import { type ClusterHints, appMeshNode } from '../service-graph/clusters.ts';
import type { NodeRef } from '../service-graph/halves.ts';
import type { Tags } from './line.ts';

/** One `statsd.senders` entry: who the proxy at that address is; other labels are kept but not read. */
export interface StatsdSender {
  workload?: string | undefined;
  namespace?: string | undefined;
  version?: string | undefined;
  [label: string]: string | undefined;
}

export interface SenderIdentity {
  node: NodeRef;
  hints: ClusterHints;
  /** Set for App Mesh proxies: the namespace of App Mesh nodes that have no Kubernetes namespace. */
  appMeshName?: string;
}

/** `::ffff:10.1.2.4` (an IPv4 sender on a dual-stack socket) → `10.1.2.4`. */
export function senderAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}


export function identifySender(address: string, tags: Tags, senders: Readonly<Record<string, StatsdSender>>): SenderIdentity {
  const virtualNode = tags['appmesh.virtual_node'] || tags.VirtualNode || tags.VirtualGateway;
  if (virtualNode) {
    const mesh = tags['appmesh.mesh'] || tags.Mesh || '';
    return { node: appMeshNode(mesh, virtualNode), hints: mesh ? { appMeshName: mesh } : {}, ...(mesh ? { appMeshName: mesh } : {}) };
  }
  const consulService = tags['consul.source.service'] || tags.local_cluster;
  if (consulService) {
    return { node: { kind: 'service', name: consulService, namespace: tags['consul.source.namespace'] ?? '' }, hints: {} };
  }
  const from = senderAddress(address);
  const sender = senders[from];
  if (sender !== undefined) {
    const name = sender.workload || sender.app || sender.service || from;
    const node: NodeRef = { kind: 'service', name, namespace: sender.namespace ?? '' };
    if (sender.version) node.version = sender.version;
    return { node, hints: {} };
  }
  return { node: { kind: 'unknown', name: from, namespace: '' }, hints: {} };
}

/**
 * identifySender() for one receiver's `statsd.senders`, remembering its answers: a flush asks it for every
 * series, and the series of one proxy (hundreds) all have the same answer. Keyed by exactly the values
 * identifySender() reads; forgotten wholesale past maxRemembered.
 */
export function rememberingIdentify(senders: Readonly<Record<string, StatsdSender>>, maxRemembered = 10_000): (address: string, tags: Tags) => SenderIdentity {
  const remembered = new Map<string, SenderIdentity>();
  return (address, tags) => {
    // The tags identifySender() reads, in its order; '\n' occurs in no tag.
    const key = `${address}\n${tags['appmesh.virtual_node'] ?? ''}\n${tags.VirtualNode ?? ''}\n${tags.VirtualGateway ?? ''}\n${tags['appmesh.mesh'] ?? ''}\n${tags.Mesh ?? ''}\n${tags['consul.source.service'] ?? ''}\n${tags.local_cluster ?? ''}\n${tags['consul.source.namespace'] ?? ''}`;
    let identity = remembered.get(key);
    if (identity === undefined) {
      if (remembered.size >= maxRemembered) remembered.clear();
      identity = identifySender(address, tags, senders);
      remembered.set(key, identity);
    }
    return identity;
  };
}
