// The API's answer → what the graph draws: nodes grouped by namespace, the versions of one service (a
// canary: reviews v1/v2/v3) grouped with each version's share of the service's traffic, and per edge its
// rate, error share, p95 and mTLS state. Pure: no DOM, no time.
import type { ApiEdge, ApiNode, NodeKind, ServiceGraph } from '../api.ts';

/** mTLS over an edge: every signal that knows says encrypted / plaintext, they disagree, or none knows. */
export type MtlsState = 'all' | 'none' | 'mixed' | 'unknown';

export interface GraphNodeModel {
  id: string;
  /** The name as the API gives it (reviews-v2, or reviews with version v2). */
  name: string;
  namespace: string;
  version: string | null;
  kind: NodeKind;
  /** The service this node is one version of: `namespace/name` without the version. */
  serviceKey: string;
  /** The service's name without the version (reviews). */
  serviceName: string;
  requests: number;
  errors: number;
  /** 0..1 */
  errorRate: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** This version's share (0..1) of the requests its service received, when the service has 2+ versions. */
  versionShare: number | null;
}

export interface GraphEdgeModel {
  id: string;
  source: string;
  target: string;
  protocols: string[];
  requests: number;
  errors: number;
  rps: number;
  /** 0..1 */
  errorRate: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  mtls: MtlsState;
  signals: string[];
}

/** The versions of one service that are drawn together. */
export interface ServiceGroup {
  key: string;
  namespace: string;
  name: string;
  nodeIds: string[];
}

export interface NamespaceGroup {
  /** '' for nodes outside any namespace (databases, brokers, the unknown caller). */
  namespace: string;
  nodeIds: string[];
}

export interface GraphModel {
  start: number;
  end: number;
  nodes: GraphNodeModel[];
  edges: GraphEdgeModel[];
  nodeById: Map<string, GraphNodeModel>;
  /** Only services with two or more versions. */
  serviceGroups: ServiceGroup[];
  namespaces: NamespaceGroup[];
}

/** reviews-v2 with version v2 → reviews; reviews with version v2 → reviews. */
export function serviceNameOf(node: Pick<ApiNode, 'name' | 'version'>): string {
  const version = node.version;
  if (!version) return node.name;
  for (const separator of ['-', '_', '.']) {
    const suffix = `${separator}${version}`;
    if (node.name.endsWith(suffix) && node.name.length > suffix.length) return node.name.slice(0, -suffix.length);
  }
  return node.name;
}

/**
 * Combines the mTLS flags of the edge rows that make one drawn edge. Rows where no signal knows (null) do
 * not count against the ones that do; only when none knows is the state unknown.
 */
export function mtlsStateOf(flags: ReadonlyArray<boolean | null>): MtlsState {
  const known = flags.filter((flag): flag is boolean => flag !== null);
  if (known.length === 0) return 'unknown';
  if (known.every((flag) => flag)) return 'all';
  if (known.every((flag) => !flag)) return 'none';
  return 'mixed';
}

export function buildModel(graph: ServiceGraph): GraphModel {
  const nodes = graph.nodes.map(toNodeModel);
  const nodeById = new Map(nodes.map((node) => [node.id, node]));
  // An edge the API names a node it did not list (cut by a filter) still needs both ends drawn.
  for (const edge of graph.edges) {
    for (const id of [edge.source, edge.target]) {
      if (!nodeById.has(id)) {
        const node = toNodeModel({ id, name: id.slice(id.lastIndexOf('/') + 1), namespace: id.includes('/') ? id.slice(0, id.indexOf('/')) : '', kind: 'virtual', requests: 0, errors: 0, p50Ms: null, p95Ms: null, p99Ms: null });
        nodes.push(node);
        nodeById.set(id, node);
      }
    }
  }

  const byService = new Map<string, GraphNodeModel[]>();
  for (const node of nodes) {
    if (node.version === null) continue;
    const members = byService.get(node.serviceKey) ?? [];
    members.push(node);
    byService.set(node.serviceKey, members);
  }
  const serviceGroups: ServiceGroup[] = [];
  for (const [key, members] of byService) {
    if (members.length < 2) continue;
    members.sort((a, b) => compareVersions(a.version ?? '', b.version ?? ''));
    const total = members.reduce((sum, node) => sum + node.requests, 0);
    for (const node of members) node.versionShare = total > 0 ? node.requests / total : 0;
    serviceGroups.push({ key, namespace: members[0]!.namespace, name: members[0]!.serviceName, nodeIds: members.map((node) => node.id) });
  }
  serviceGroups.sort((a, b) => a.key.localeCompare(b.key));

  const namespaceMembers = new Map<string, string[]>();
  for (const node of nodes) {
    const members = namespaceMembers.get(node.namespace) ?? [];
    members.push(node.id);
    namespaceMembers.set(node.namespace, members);
  }
  const namespaces = [...namespaceMembers].map(([namespace, nodeIds]) => ({ namespace, nodeIds: nodeIds.sort() })).sort((a, b) => a.namespace.localeCompare(b.namespace));

  return { start: graph.start, end: graph.end, nodes, edges: mergeEdges(graph.edges), nodeById, serviceGroups, namespaces };
}

function toNodeModel(node: ApiNode): GraphNodeModel {
  const version = node.version ? node.version : null;
  const serviceName = serviceNameOf(node);
  return {
    id: node.id,
    name: node.name,
    namespace: node.namespace,
    version,
    kind: node.kind,
    serviceKey: node.namespace ? `${node.namespace}/${serviceName}` : serviceName,
    serviceName,
    requests: node.requests,
    errors: node.errors,
    errorRate: node.requests > 0 ? node.errors / node.requests : 0,
    p50Ms: node.p50Ms,
    p95Ms: node.p95Ms,
    p99Ms: node.p99Ms,
    versionShare: null,
  };
}

/**
 * One drawn edge per (source, target): the API may answer one row per protocol for the same pair. Counts
 * add up; the latencies shown are those of the busiest protocol (percentiles do not add).
 */
function mergeEdges(edges: readonly ApiEdge[]): GraphEdgeModel[] {
  const byPair = new Map<string, ApiEdge[]>();
  for (const edge of edges) {
    const key = `${edge.source}->${edge.target}`;
    const rows = byPair.get(key) ?? [];
    rows.push(edge);
    byPair.set(key, rows);
  }
  const merged: GraphEdgeModel[] = [];
  for (const [id, rows] of byPair) {
    const busiest = rows.reduce((a, b) => (b.requests > a.requests ? b : a));
    const requests = rows.reduce((sum, row) => sum + row.requests, 0);
    const errors = rows.reduce((sum, row) => sum + row.errors, 0);
    merged.push({
      id: rows.length === 1 ? rows[0]!.id : id,
      source: busiest.source,
      target: busiest.target,
      protocols: [...new Set(rows.map((row) => row.protocol))].sort(),
      requests,
      errors,
      rps: rows.reduce((sum, row) => sum + row.rps, 0),
      errorRate: rows.length === 1 ? rows[0]!.errorRate : requests > 0 ? errors / requests : 0,
      p50Ms: busiest.p50Ms,
      p95Ms: busiest.p95Ms,
      p99Ms: busiest.p99Ms,
      mtls: mtlsStateOf(rows.map((row) => row.mtls)),
      signals: [...new Set(rows.flatMap((row) => row.signals))].sort(),
    });
  }
  return merged;
}

/** v2 before v10: numbers inside version labels compare as numbers. */
function compareVersions(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** The ids of a node and of every node one edge away from it. */
export function neighbourhood(model: GraphModel, id: string): Set<string> {
  const ids = new Set([id]);
  for (const edge of model.edges) {
    if (edge.source === id) ids.add(edge.target);
    if (edge.target === id) ids.add(edge.source);
  }
  return ids;
}

/** Only the nodes in `keep` and the edges between them. */
export function restrictModel(model: GraphModel, keep: ReadonlySet<string>): GraphModel {
  const nodes = model.nodes.filter((node) => keep.has(node.id));
  const edges = model.edges.filter((edge) => keep.has(edge.source) && keep.has(edge.target));
  return {
    ...model,
    nodes,
    edges,
    nodeById: new Map(nodes.map((node) => [node.id, node])),
    serviceGroups: model.serviceGroups.map((group) => ({ ...group, nodeIds: group.nodeIds.filter((id) => keep.has(id)) })).filter((group) => group.nodeIds.length >= 2),
    namespaces: model.namespaces.map((group) => ({ ...group, nodeIds: group.nodeIds.filter((id) => keep.has(id)) })).filter((group) => group.nodeIds.length > 0),
  };
}

/** Node ids whose name, service or namespace contains `text` (case-insensitive). */
export function searchNodes(model: GraphModel, text: string): string[] {
  const needle = text.trim().toLowerCase();
  if (needle === '') return [];
  return model.nodes.filter((node) => node.id.toLowerCase().includes(needle) || node.name.toLowerCase().includes(needle)).map((node) => node.id);
}
