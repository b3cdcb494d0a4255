// Envoy cluster names → the destination they stand for. Every Envoy-based mesh names its outbound
// clusters its own way (mesh-telemetry.md §2.1); span tags (`upstream_cluster`), access-log entries,
// StatsD stat names and Prometheus labels all carry them, so the grammar lives here once.
//
//   Istio     outbound|<port>|<subset>|<fqdn>            fqdn = <svc>.<ns>.svc.<domain> or an external host
//   Consul    [<hash>~][<subset>.]<svc>.<ns>.<dc>.<internal|external>.<trust-domain>.consul
//   App Mesh  cds_egress_<mesh>_<virtual node>_<protocol>_<port>
//   Kuma      <svc>_<ns>_svc_<port>  (legacy)   kri_msvc_<mesh>_<zone>_<ns>_<name>_<port or section>
//
// What is not a destination — the proxy's own inbound side, pass-through and control-plane clusters —
// parses to null, so no signal draws an edge to it.
import type { NodeRef } from './halves.ts';

export type ClusterMesh = 'istio' | 'consul' | 'appmesh' | 'kuma' | 'other';

export interface ClusterDestination {
  mesh: ClusterMesh;
  /** Service (or virtual node) name; for an external or unrecognised cluster, the host or the name as given. */
  name: string;
  /** '' when the name does not say. */
  namespace: string;
  /** Subset / canonical revision, '' when none: the canary dimension. */
  version: string;
  /** 0 when the name does not say. */
  port: number;
  /** An in-mesh service (true), or a host outside it / a name we cannot read (false: draw it as virtual). */
  inMesh: boolean;
}

export interface ClusterHints {
  /** App Mesh's mesh name (the `appmesh.mesh` tag): mesh names may contain '_'. */
  appMeshName?: string;
}

const NOT_A_DESTINATION = new Set([
  'PassthroughCluster', 'BlackHoleCluster', 'InboundPassthroughClusterIpv4', 'InboundPassthroughClusterIpv6', 'xds-grpc',
  'prometheus_stats', 'agent', 'zipkin', 'local_app', 'public_listener', 'local_agent', 'self_admin',
  'static_cluster_sds_unix_socket',
]);

/** A grammar recognised the name, and it is no destination. (null from a grammar: not its name.) */
const NOT_AN_EDGE = 'not an edge';

// Kubernetes names are DNS labels: no '_' and no '.', which is what makes the '_'-joined grammars readable.
const LABEL = '[a-z0-9](?:[a-z0-9-]*[a-z0-9])?';
const KUBERNETES_HOST = new RegExp(`^(${LABEL})\\.(${LABEL})\\.svc(?:\\.[a-z0-9.-]+)?$`);
const KUMA_LEGACY = new RegExp(`^(${LABEL})_(${LABEL})_svc_([0-9]{1,5})$`);
const KUMA_KRI = new RegExp(`^kri_msvc_([^_]*)_([^_]*)_(${LABEL})_(${LABEL})_([^_]+)$`);
const CONSUL = /^(?:[0-9a-f]+~)?(.+)\.(internal|external)(?:-v[0-9]+)?\.(.+)\.consul$/;

export function parseCluster(rawName: string, hints: ClusterHints = {}): ClusterDestination | null {
  // Istio's stat names end the cluster with ';' (its alt_stat_name) so that dots inside it survive.
  const cluster = rawName.endsWith(';') ? rawName.slice(0, -1) : rawName;
  if (cluster === '' || NOT_A_DESTINATION.has(cluster)) return null;
  // Inbound sides: Istio's `inbound|…`, Kuma's `localhost:<port>` and `inbound:…`, App Mesh's `cds_ingress_…`.
  if (/^(?:inbound[|:]|localhost:|kuma:|cds_ingress_)/.test(cluster)) return null;
  const found = istio(cluster) ?? consul(cluster) ?? appMesh(cluster, hints) ?? kuma(cluster);
  if (found === NOT_AN_EDGE) return null;
  return found ?? { mesh: 'other', name: cluster, namespace: '', version: '', port: 0, inMesh: false };
}


function istio(cluster: string): ClusterDestination | null {
  const parts = cluster.split('|');
  if (parts.length !== 4 || parts[0] !== 'outbound') return null;
  const [, port = '', subset = '', host = ''] = parts;
  const service = KUBERNETES_HOST.exec(host);
  return {
    mesh: 'istio',
    name: service ? service[1]! : host,
    namespace: service ? service[2]! : '',
    version: subset,
    port: Number(port) || 0,
    inMesh: service !== null,
  };
}

function consul(cluster: string): ClusterDestination | null {
  const match = CONSUL.exec(cluster);
  if (match === null) return null;
  // From the right of the head: datacenter, namespace, service; whatever is left is the subset.
  const head = match[1]!.split('.');
  if (head.length < 3) return null;
  const [service, namespace] = head.slice(-3, -1) as [string, string];
  return { mesh: 'consul', name: service, namespace, version: head.slice(0, -3).join('.'), port: 0, inMesh: match[2] === 'internal' };
}

function appMesh(cluster: string, hints: ClusterHints): ClusterDestination | typeof NOT_AN_EDGE | null {
  if (!cluster.startsWith('cds_egress_')) return null;
  let rest = cluster.slice('cds_egress_'.length);
  let mesh: string;
  if (hints.appMeshName !== undefined && rest.startsWith(`${hints.appMeshName}_`)) mesh = hints.appMeshName;
  else mesh = rest.slice(0, Math.max(0, rest.indexOf('_')));
  rest = rest.slice(mesh.length + 1);
  // AWS services reached through the mesh (cds_egress_<mesh>_amazonaws) are not a node of it.
  if (rest === 'amazonaws' || rest === '') return NOT_AN_EDGE;
  const parts = rest.split('_');
  const port = Number(parts.at(-1));
  // A virtual node outside Kubernetes has no namespace: it lives in its mesh's (interface.md).
  if (parts.length < 3 || !Number.isInteger(port)) return { mesh: 'appmesh', name: rest, namespace: mesh, version: '', port: 0, inMesh: true };
  const node = parts.slice(0, -2);
  // On EKS a virtual node is named `<name>_<namespace>`.
  const namespace = node.length > 1 ? node.pop()! : mesh;
  return { mesh: 'appmesh', name: node.join('_'), namespace, version: '', port, inMesh: true };
}

function kuma(cluster: string): ClusterDestination | null {
  const legacy = KUMA_LEGACY.exec(cluster);
  if (legacy !== null) return { mesh: 'kuma', name: legacy[1]!, namespace: legacy[2]!, version: '', port: Number(legacy[3]), inMesh: true };
  const kri = KUMA_KRI.exec(cluster);
  if (kri !== null) return { mesh: 'kuma', name: kri[4]!, namespace: kri[3]!, version: '', port: Number(kri[5]) || 0, inMesh: true };
  return null;
}

/**
 * An App Mesh virtual node (`productpage`, or `productpage_bookinfo` on EKS) as a node, named as its
 * egress clusters name it, so the proxy that reports and the destination others report are one node.
 */
export function appMeshNode(mesh: string, virtualNode: string): NodeRef {
  const parsed = parseCluster(`cds_egress_${mesh}_${virtualNode}_http_0`, { appMeshName: mesh });
  const name = parsed?.name || virtualNode;
  return { kind: 'service', name, namespace: parsed?.namespace || mesh };
}
