// GET /api/v1/service-graph: nodes and edges over a window, from the per-minute edge rows (per-hour
// rows for windows over 6 hours), in the contract's shape (../shared/reference/interface.md).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { NODE_KIND_BY_RANK } from '../collector/service-graph/halves.ts';
import { LatencyHistogram } from '../collector/service-graph/histogram.ts';
import { type ClickHouseStore, sqlInt, sqlString } from '../collector/storage/store.ts';

export const SIGNALS = ['spans', 'envoy-als', 'envoy-metrics', 'statsd', 'prometheus', 'otlp-metrics', 'otlp-logs', 'all'] as const;

interface EdgeRow {
  source_id: string;
  target_id: string;
  source_name: string;
  source_namespace: string;
  source_version: string;
  source_kind: number;
  target_name: string;
  target_namespace: string;
  target_version: string;
  target_kind: number;
  protocol: string;
  signals: string[];
  requests: number;
  errors: number;
  mtls_yes: number;
  mtls_no: number;
  latency: [number[], number[]];
}

export interface GraphNode {
  id: string;
  name: string;
  namespace: string;
  version?: string;
  kind: (typeof NODE_KIND_BY_RANK)[number];
  requests: number;
  errors: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  protocol: string;
  requests: number;
  errors: number;
  rps: number;
  errorRate: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  mtls: boolean | null;
  signals: string[];
}

/** A query time: Unix milliseconds or RFC 3339. */
export function parseTime(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  if (/^[0-9]+$/.test(value)) return Number(value);
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) throw Object.assign(new Error(`${name} must be Unix milliseconds or RFC 3339, got "${value}"`), { statusCode: 400 });
  return parsed;
}

const round = (n: number, digits = 4) => Math.round(n * 10 ** digits) / 10 ** digits;
const quantile = (h: LatencyHistogram, q: number) => {
  const v = h.quantile(q);
  return v === null ? null : round(v, 3);
};

export interface GraphQuery {
  startMs: number;
  endMs: number;
  namespace?: string | undefined;
  service?: string | undefined;
  signal: (typeof SIGNALS)[number];
}

export async function readServiceGraph(store: ClickHouseStore, q: GraphQuery): Promise<{ start: number; end: number; nodes: GraphNode[]; edges: GraphEdge[] }> {
  // Long windows read the hourly rollup (their edges are whole hours); short ones the minutes.
  const hourly = q.endMs - q.startMs > 6 * 3_600_000;
  const [table, time] = hourly ? ['edges_1h', 'hour'] : ['edges_1m', 'minute'];
  const where = [
    `${time} >= toStartOf${hourly ? 'Hour' : 'Minute'}(toDateTime(${sqlInt(Math.floor(q.startMs / 1000))}))`,
    `${time} <= toDateTime(${sqlInt(Math.floor(q.endMs / 1000))})`,
  ];
  if (q.signal !== 'all') where.push(`signal = ${sqlString(q.signal)}`);
  const rows = await store.query<EdgeRow>(
    `SELECT source_id, target_id, protocol,
       any(source_name) AS source_name, any(source_namespace) AS source_namespace, any(source_version) AS source_version, min(source_kind) AS source_kind,
       any(target_name) AS target_name, any(target_namespace) AS target_namespace, any(target_version) AS target_version, min(target_kind) AS target_kind,
       groupUniqArray(signal) AS signals, sum(requests) AS requests, sum(errors) AS errors,
       sum(mtls_yes) AS mtls_yes, sum(mtls_no) AS mtls_no, sumMap(latency) AS latency
     FROM ${table} WHERE ${where.join(' AND ')}
     GROUP BY source_id, target_id, protocol
     -- The storage pass takes back guesses it has paired (negative rows): what nets to nothing is no edge.
     HAVING requests > 1e-6
     ORDER BY source_id, target_id, protocol`,
  );
  const seconds = Math.max(1, (q.endMs - q.startMs) / 1000);
  const nodes = new Map<string, { node: GraphNode; latency: LatencyHistogram }>();
  const node = (id: string, name: string, namespace: string, version: string, rank: number) => {
    let entry = nodes.get(id);
    if (!entry) {
      entry = {
        node: { id, name, namespace, ...(version ? { version } : {}), kind: NODE_KIND_BY_RANK[rank] ?? 'unknown', requests: 0, errors: 0, p50Ms: null, p95Ms: null, p99Ms: null },
        latency: new LatencyHistogram(),
      };
      nodes.set(id, entry);
    }
    return entry;
  };
  // Several protocols between one pair are one edge in the contract: merge them.
  const edges = new Map<string, { edge: GraphEdge; latency: LatencyHistogram; mtlsYes: number; mtlsNo: number }>();
  for (const r of rows) {
    node(r.source_id, r.source_name, r.source_namespace, r.source_version, Number(r.source_kind));
    const target = node(r.target_id, r.target_name, r.target_namespace, r.target_version, Number(r.target_kind));
    const latency = LatencyHistogram.fromSparse({ indexes: r.latency[0], counts: r.latency[1] });
    // A node's own figures are the calls it served.
    target.node.requests += Number(r.requests);
    target.node.errors += Number(r.errors);
    target.latency.merge(latency);
    const id = `${r.source_id}->${r.target_id}`;
    let entry = edges.get(id);
    if (!entry) {
      entry = {
        edge: { id, source: r.source_id, target: r.target_id, protocol: r.protocol, requests: 0, errors: 0, rps: 0, errorRate: 0, p50Ms: null, p95Ms: null, p99Ms: null, mtls: null, signals: [] },
        latency: new LatencyHistogram(),
        mtlsYes: 0,
        mtlsNo: 0,
      };
      edges.set(id, entry);
    } else if (entry.edge.protocol === 'unknown') entry.edge.protocol = r.protocol;
    entry.edge.requests += Number(r.requests);
    entry.edge.errors += Number(r.errors);
    entry.mtlsYes += Number(r.mtls_yes);
    entry.mtlsNo += Number(r.mtls_no);
    entry.latency.merge(latency);
    entry.edge.signals = [...new Set([...entry.edge.signals, ...r.signals])].sort();
  }
  let edgeList = [...edges.values()].map(({ edge, latency, mtlsYes, mtlsNo }) => ({
    ...edge,
    requests: round(edge.requests),
    errors: round(edge.errors),
    rps: round(edge.requests / seconds),
    errorRate: edge.requests > 0 ? round(edge.errors / edge.requests) : 0,
    p50Ms: quantile(latency, 0.5),
    p95Ms: quantile(latency, 0.95),
    p99Ms: quantile(latency, 0.99),
    // Any plaintext traffic makes the edge not mTLS; unknown when no signal said either way.
    mtls: mtlsNo > 0 ? false : mtlsYes > 0 ? true : null,
  }));
  let nodeList = [...nodes.values()].map(({ node: n, latency }) => ({
    ...n,
    requests: round(n.requests),
    errors: round(n.errors),
    p50Ms: quantile(latency, 0.5),
    p95Ms: quantile(latency, 0.95),
    p99Ms: quantile(latency, 0.99),
  }));
  if (q.namespace) {
    const inNamespace = new Set(nodeList.filter((n) => n.namespace === q.namespace).map((n) => n.id));
    edgeList = edgeList.filter((e) => inNamespace.has(e.source) || inNamespace.has(e.target));
  }
  if (q.service) {
    const focus = new Set(nodeList.filter((n) => n.id === q.service || n.name === q.service).map((n) => n.id));
    edgeList = edgeList.filter((e) => focus.has(e.source) || focus.has(e.target));
  }
  if (q.namespace || q.service) {
    const kept = new Set(edgeList.flatMap((e) => [e.source, e.target]));
    nodeList = nodeList.filter((n) => kept.has(n.id));
  }
  nodeList.sort((a, b) => (a.id < b.id ? -1 : 1));
  return { start: q.startMs, end: q.endMs, nodes: nodeList, edges: edgeList };
}

/** Caller → callee links by service name (as Jaeger and Zipkin name services), for their dependency APIs. */
export async function dependencyLinks(store: ClickHouseStore, endMs: number, lookbackMs: number): Promise<Array<{ parent: string; child: string; callCount: number; errorCount: number }>> {
  const graph = await readServiceGraph(store, { startMs: endMs - lookbackMs, endMs, signal: 'all' });
  const names = new Map(graph.nodes.map((n) => [n.id, n.name]));
  return graph.edges.map((e) => ({
    parent: names.get(e.source) ?? e.source,
    child: names.get(e.target) ?? e.target,
    callCount: Math.round(e.requests),
    errorCount: Math.round(e.errors),
  }));
}

export const serviceGraphApi: FastifyPluginAsyncTypebox<{ store: ClickHouseStore }> = async (app, { store }) => {
  app.get(
    '/api/v1/service-graph',
    {
      schema: {
        querystring: Type.Object({
          start: Type.Optional(Type.String()),
          end: Type.Optional(Type.String()),
          namespace: Type.Optional(Type.String()),
          service: Type.Optional(Type.String()),
          signal: Type.Optional(Type.Union(SIGNALS.map((s) => Type.Literal(s)))),
        }),
      },
    },
    async (request) => {
      const q = request.query;
      const endMs = parseTime(q.end, 'end', Date.now());
      const startMs = parseTime(q.start, 'start', endMs - 15 * 60_000);
      if (startMs >= endMs) throw Object.assign(new Error('start must be before end'), { statusCode: 400 });
      return readServiceGraph(store, { startMs, endMs, namespace: q.namespace, service: q.service, signal: q.signal ?? 'all' });
    },
  );
};
