// meshlens API JSON → Grafana data frames. Plain functions over @grafana/data only (no runtime, no React),
// so they are testable in Node and the DataSource class stays a thin HTTP layer.
// Contracts: node graph = NodeGraphDataFrameFieldNames (nodes + edges frames); trace view = TraceSpanRow;
// histogram = xMin/xMax/count; heatmap = DataFrameType.HeatmapRows with an `le` label per bucket.
import {
  type DataFrame,
  DataFrameType,
  type DataLink,
  FieldColorModeId,
  FieldType,
  NodeGraphDataFrameFieldNames as N,
  type TraceKeyValuePair,
  type TraceLog,
  type TraceSpanReference,
  createDataFrame,
} from '@grafana/data';
import type {
  ApiGraphEdge,
  ApiGraphNode,
  ApiHeatmap,
  ApiLatency,
  ApiRed,
  ApiServiceGraph,
  GraphMainStat,
  JaegerSpan,
  JaegerTag,
  JaegerTrace,
  MeshlensQuery,
} from './types.ts';

/** Which data source internal links (trace ids, node menus) point back to. */
export interface DataSourceRef {
  uid: string;
  name: string;
}

export const ARC_COLORS = { success: '#73bf69', errors: '#f2495c' } as const;
export const EDGE_COLORS = { healthy: '#73bf69', someErrors: '#ff9830', failing: '#f2495c' } as const;
/** Edge error rate from which an edge is drawn red (orange below it, green at 0). */
export const FAILING_ERROR_RATE = 0.05;
/** SVG dash patterns: plaintext (mTLS false) dashed, unknown dotted, mTLS solid. */
export const DASH = { plaintext: '6 4', unknown: '2 3', mtls: '' } as const;

const fixedColor = (color: string) => ({ mode: FieldColorModeId.Fixed, fixedColor: color });

function internalLink(ds: DataSourceRef, title: string, query: Partial<MeshlensQuery>): DataLink {
  return { title, url: '', internal: { datasourceUid: ds.uid, datasourceName: ds.name, query } };
}

const mtlsText = (mtls: boolean | null) => (mtls === true ? 'yes' : mtls === false ? 'no (plaintext)' : 'unknown');

/** A node's mTLS over every edge touching it: all, none, some, or unknown when no signal said. */
function nodeMtls(edges: readonly ApiGraphEdge[]): string {
  const known = edges.filter((e) => e.mtls !== null);
  if (known.length === 0) return 'unknown';
  const secured = known.filter((e) => e.mtls === true).length;
  if (secured === known.length) return known.length === edges.length ? 'all edges' : 'all known edges';
  return secured === 0 ? 'none' : `${secured} of ${edges.length} edges`;
}

/** Edge thickness 1..5 px, by requests relative to the busiest edge (log scale: meshes span decades). */
function thickness(requests: number, maxRequests: number): number {
  if (requests <= 0 || maxRequests <= 0) return 1;
  return Math.round((1 + (4 * Math.log1p(requests)) / Math.log1p(maxRequests)) * 10) / 10;
}

const round = (n: number, digits = 4) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * The service graph as Grafana's node graph wants it: a `nodes` and an `edges` frame. A node's stats are what
 * it served (requests to it); a node that only called others has no arcs (all 0: Grafana draws a plain circle).
 */
export function serviceGraphFrames(graph: ApiServiceGraph, refId: string, ds: DataSourceRef, mainStat: GraphMainStat = 'rps'): DataFrame[] {
  const seconds = Math.max(1, (graph.end - graph.start) / 1000);
  const nodes: ApiGraphNode[] = [...graph.nodes];
  // Edges must only name nodes of the nodes frame; add a bare node for an endpoint the API did not list.
  const known = new Set(nodes.map((n) => n.id));
  for (const edge of graph.edges) {
    for (const id of [edge.source, edge.target]) {
      if (known.has(id)) continue;
      known.add(id);
      const slash = id.indexOf('/');
      nodes.push({ id, name: slash >= 0 ? id.slice(slash + 1) : id, namespace: slash >= 0 ? id.slice(0, slash) : '', kind: 'unknown', requests: 0, errors: 0, p50Ms: null, p95Ms: null, p99Ms: null });
    }
  }
  nodes.sort((a, b) => a.id.localeCompare(b.id));
  const edgesOf = (id: string) => graph.edges.filter((e) => e.source === id || e.target === id);
  const nodeRps = nodes.map((n) => round(n.requests / seconds));
  const rpsConfig = { unit: 'reqps', displayName: 'Requests/s', decimals: 3 };
  const p95Config = { unit: 'ms', displayName: 'p95 latency', decimals: 1 };
  const [mainConfig, secondaryConfig] = mainStat === 'p95' ? [p95Config, rpsConfig] : [rpsConfig, p95Config];

  const nodesFrame = createDataFrame({
    refId,
    name: 'nodes',
    meta: { preferredVisualisationType: 'nodeGraph' },
    fields: [
      {
        name: N.id,
        type: FieldType.string,
        values: nodes.map((n) => n.id),
        config: {
          links: [
            internalLink(ds, 'Traces of ${__data.fields.title}', { queryType: 'traceSearch', service: '${__data.fields.title}' }),
            internalLink(ds, 'RED of ${__data.fields.title}', { queryType: 'red', service: '${__value.raw}' }),
          ],
        },
      },
      { name: N.title, type: FieldType.string, values: nodes.map((n) => n.name + (n.version && !n.name.endsWith(n.version) ? `@${n.version}` : '')) },
      { name: N.subTitle, type: FieldType.string, values: nodes.map((n) => n.namespace) },
      { name: N.mainStat, type: FieldType.number, values: mainStat === 'p95' ? nodes.map((n) => n.p95Ms) : nodeRps, config: mainConfig },
      { name: N.secondaryStat, type: FieldType.number, values: mainStat === 'p95' ? nodeRps : nodes.map((n) => n.p95Ms), config: secondaryConfig },
      {
        name: `${N.arc}success`,
        type: FieldType.number,
        values: nodes.map((n) => (n.requests > 0 ? round((n.requests - n.errors) / n.requests) : 0)),
        config: { color: fixedColor(ARC_COLORS.success), displayName: 'Success' },
      },
      {
        name: `${N.arc}errors`,
        type: FieldType.number,
        values: nodes.map((n) => (n.requests > 0 ? round(1 - round((n.requests - n.errors) / n.requests)) : 0)),
        config: { color: fixedColor(ARC_COLORS.errors), displayName: 'Errors' },
      },
      { name: `${N.detail}kind`, type: FieldType.string, values: nodes.map((n) => n.kind), config: { displayName: 'Kind' } },
      { name: `${N.detail}requests`, type: FieldType.number, values: nodes.map((n) => n.requests), config: { displayName: 'Requests served' } },
      { name: `${N.detail}errors`, type: FieldType.number, values: nodes.map((n) => n.errors), config: { displayName: 'Server errors' } },
      { name: `${N.detail}p50`, type: FieldType.number, values: nodes.map((n) => n.p50Ms), config: { displayName: 'p50', unit: 'ms' } },
      { name: `${N.detail}p95`, type: FieldType.number, values: nodes.map((n) => n.p95Ms), config: { displayName: 'p95', unit: 'ms' } },
      { name: `${N.detail}p99`, type: FieldType.number, values: nodes.map((n) => n.p99Ms), config: { displayName: 'p99', unit: 'ms' } },
      { name: `${N.detail}mtls`, type: FieldType.string, values: nodes.map((n) => nodeMtls(edgesOf(n.id))), config: { displayName: 'mTLS' } },
      // Grafana marks uninstrumented nodes (seen only as a peer) differently.
      { name: N.isInstrumented, type: FieldType.boolean, values: nodes.map((n) => n.kind === 'service') },
    ],
  });

  const edges = [...graph.edges].sort((a, b) => a.id.localeCompare(b.id));
  const maxRequests = Math.max(0, ...edges.map((e) => e.requests));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const edgesFrame = createDataFrame({
    refId,
    name: 'edges',
    meta: { preferredVisualisationType: 'nodeGraph' },
    fields: [
      {
        name: N.id,
        type: FieldType.string,
        values: edges.map((e) => e.id),
        config: { links: [internalLink(ds, 'RED of this edge', { queryType: 'red', source: '${__data.fields.source}', target: '${__data.fields.target}' })] },
      },
      { name: N.source, type: FieldType.string, values: edges.map((e) => e.source) },
      { name: N.target, type: FieldType.string, values: edges.map((e) => e.target) },
      { name: N.mainStat, type: FieldType.number, values: edges.map((e) => (mainStat === 'p95' ? e.p95Ms : e.rps)), config: mainConfig },
      { name: N.secondaryStat, type: FieldType.number, values: edges.map((e) => (mainStat === 'p95' ? e.rps : e.p95Ms)), config: secondaryConfig },
      { name: N.thickness, type: FieldType.number, values: edges.map((e) => thickness(e.requests, maxRequests)) },
      {
        name: N.color,
        type: FieldType.string,
        values: edges.map((e) => (e.errorRate >= FAILING_ERROR_RATE ? EDGE_COLORS.failing : e.errors > 0 ? EDGE_COLORS.someErrors : EDGE_COLORS.healthy)),
      },
      { name: N.strokeDasharray, type: FieldType.string, values: edges.map((e) => (e.mtls === true ? DASH.mtls : e.mtls === false ? DASH.plaintext : DASH.unknown)) },
      { name: `${N.detail}protocol`, type: FieldType.string, values: edges.map((e) => e.protocol), config: { displayName: 'Protocol' } },
      { name: `${N.detail}requests`, type: FieldType.number, values: edges.map((e) => e.requests), config: { displayName: 'Requests' } },
      { name: `${N.detail}errorRate`, type: FieldType.number, values: edges.map((e) => e.errorRate), config: { displayName: 'Error rate', unit: 'percentunit' } },
      { name: `${N.detail}p50`, type: FieldType.number, values: edges.map((e) => e.p50Ms), config: { displayName: 'p50', unit: 'ms' } },
      { name: `${N.detail}p95`, type: FieldType.number, values: edges.map((e) => e.p95Ms), config: { displayName: 'p95', unit: 'ms' } },
      { name: `${N.detail}p99`, type: FieldType.number, values: edges.map((e) => e.p99Ms), config: { displayName: 'p99', unit: 'ms' } },
      { name: `${N.detail}mtls`, type: FieldType.string, values: edges.map((e) => mtlsText(e.mtls)), config: { displayName: 'mTLS' } },
      { name: `${N.detail}signals`, type: FieldType.string, values: edges.map((e) => e.signals.join(', ')), config: { displayName: 'Seen by' } },
      { name: 'sourceName', type: FieldType.string, values: edges.map((e) => byId.get(e.source)?.name ?? e.source) },
      { name: 'sourceNamespace', type: FieldType.string, values: edges.map((e) => byId.get(e.source)?.namespace ?? '') },
      { name: 'targetName', type: FieldType.string, values: edges.map((e) => byId.get(e.target)?.name ?? e.target) },
      { name: 'targetNamespace', type: FieldType.string, values: edges.map((e) => byId.get(e.target)?.namespace ?? '') },
    ],
  });
  return [nodesFrame, edgesFrame];
}

// ---- traces ----

const isParentRef = (r: { refType: string }) => r.refType === 'CHILD_OF';

/** The root span: no parent in the trace (earliest such span), else the earliest span. */
function rootSpan(trace: JaegerTrace): JaegerSpan | undefined {
  const ids = new Set(trace.spans.map((s) => s.spanID));
  const byStart = [...trace.spans].sort((a, b) => a.startTime - b.startTime);
  return byStart.find((s) => !s.references.some((r) => isParentRef(r) && ids.has(r.spanID))) ?? byStart[0];
}

/** Trace search results as the Jaeger data source shows them: a table, newest first, duration in µs. */
export function traceSearchFrame(traces: readonly JaegerTrace[], refId: string, ds: DataSourceRef): DataFrame {
  const rows = traces
    .filter((t) => t.spans.length > 0)
    .map((t) => {
      const root = rootSpan(t)!;
      const start = Math.min(...t.spans.map((s) => s.startTime));
      const end = Math.max(...t.spans.map((s) => s.startTime + s.duration));
      const service = t.processes[root.processID]?.serviceName ?? 'unknown';
      return { traceID: t.traceID, traceName: `${service}: ${root.operationName}`, startMs: start / 1000, durationUs: end - start };
    })
    .sort((a, b) => b.startMs - a.startMs);
  return createDataFrame({
    refId,
    name: 'Traces',
    meta: { preferredVisualisationType: 'table' },
    fields: [
      {
        name: 'traceID',
        type: FieldType.string,
        values: rows.map((r) => r.traceID),
        config: { displayNameFromDS: 'Trace ID', links: [internalLink(ds, 'Trace: ${__value.raw}', { queryType: 'traceId', traceId: '${__value.raw}' })] },
      },
      { name: 'traceName', type: FieldType.string, values: rows.map((r) => r.traceName), config: { displayNameFromDS: 'Trace name' } },
      { name: 'startTime', type: FieldType.time, values: rows.map((r) => r.startMs), config: { displayNameFromDS: 'Start time' } },
      { name: 'duration', type: FieldType.number, values: rows.map((r) => r.durationUs), config: { displayNameFromDS: 'Duration', unit: 'µs' } },
    ],
  });
}

// Tags that meshlens' Jaeger API synthesises from a span's own fields: they become TraceSpanRow fields.
const KIND_TAG = 'span.kind';
const STATUS_TAG = 'otel.status_code';
const STATUS_MESSAGE_TAG = 'otel.status_description';
const SCOPE_NAME_TAG = 'otel.scope.name';
const SCOPE_VERSION_TAG = 'otel.scope.version';
const TRACE_STATE_TAG = 'w3c.tracestate';
const LIFTED_TAGS = new Set([KIND_TAG, STATUS_TAG, STATUS_MESSAGE_TAG, SCOPE_NAME_TAG, SCOPE_VERSION_TAG, TRACE_STATE_TAG]);
const STATUS_CODES: Record<string, number> = { OK: 1, ERROR: 2 };

const keyValue = (t: JaegerTag): TraceKeyValuePair => ({ key: t.key, value: t.value, type: t.type });
const tagText = (tags: readonly JaegerTag[], key: string) => {
  const tag = tags.find((t) => t.key === key);
  return tag === undefined ? undefined : String(tag.value);
};

/** One trace (Jaeger JSON) as Grafana's trace-view frame: one row per span, times in ms. */
export function traceFrame(trace: JaegerTrace, refId: string): DataFrame {
  const spans = [...trace.spans].sort((a, b) => a.startTime - b.startTime);
  const process = (s: JaegerSpan) => trace.processes[s.processID];
  const namespaceOf = (s: JaegerSpan) => tagText(process(s)?.tags ?? [], 'k8s.namespace.name') ?? tagText(process(s)?.tags ?? [], 'service.namespace');
  const logs = (s: JaegerSpan): TraceLog[] =>
    s.logs.map((l) => {
      const name = l.fields.find((f) => f.key === 'event');
      return { timestamp: l.timestamp / 1000, fields: l.fields.filter((f) => f !== name).map(keyValue), ...(name ? { name: String(name.value) } : {}) };
    });
  const references = (s: JaegerSpan): TraceSpanReference[] => s.references.filter((r) => !isParentRef(r)).map((r) => ({ traceID: r.traceID, spanID: r.spanID }));
  return createDataFrame({
    refId,
    name: `Trace ${trace.traceID}`,
    meta: { preferredVisualisationType: 'trace', custom: { traceFormat: 'otlp' } },
    fields: [
      { name: 'traceID', type: FieldType.string, values: spans.map((s) => s.traceID) },
      { name: 'spanID', type: FieldType.string, values: spans.map((s) => s.spanID) },
      { name: 'parentSpanID', type: FieldType.string, values: spans.map((s) => s.references.find(isParentRef)?.spanID) },
      { name: 'operationName', type: FieldType.string, values: spans.map((s) => s.operationName) },
      { name: 'serviceName', type: FieldType.string, values: spans.map((s) => process(s)?.serviceName ?? 'unknown') },
      { name: 'serviceNamespace', type: FieldType.string, values: spans.map(namespaceOf) },
      { name: 'serviceTags', type: FieldType.other, values: spans.map((s) => (process(s)?.tags ?? []).map(keyValue)) },
      { name: 'startTime', type: FieldType.number, values: spans.map((s) => s.startTime / 1000), config: { unit: 'ms' } },
      { name: 'duration', type: FieldType.number, values: spans.map((s) => s.duration / 1000), config: { unit: 'ms' } },
      { name: 'logs', type: FieldType.other, values: spans.map(logs) },
      { name: 'references', type: FieldType.other, values: spans.map(references) },
      { name: 'tags', type: FieldType.other, values: spans.map((s) => s.tags.filter((t) => !LIFTED_TAGS.has(t.key)).map(keyValue)) },
      { name: 'kind', type: FieldType.string, values: spans.map((s) => tagText(s.tags, KIND_TAG)) },
      { name: 'statusCode', type: FieldType.number, values: spans.map((s) => STATUS_CODES[tagText(s.tags, STATUS_TAG) ?? ''] ?? 0) },
      { name: 'statusMessage', type: FieldType.string, values: spans.map((s) => tagText(s.tags, STATUS_MESSAGE_TAG)) },
      { name: 'instrumentationLibraryName', type: FieldType.string, values: spans.map((s) => tagText(s.tags, SCOPE_NAME_TAG)) },
      { name: 'instrumentationLibraryVersion', type: FieldType.string, values: spans.map((s) => tagText(s.tags, SCOPE_VERSION_TAG)) },
      { name: 'traceState', type: FieldType.string, values: spans.map((s) => tagText(s.tags, TRACE_STATE_TAG)) },
      { name: 'warnings', type: FieldType.other, values: spans.map((s) => s.warnings ?? undefined) },
    ],
  });
}

// ---- latency ----

/**
 * The merged latency histogram in Grafana's pre-bucketed histogram form (xMin, xMax, count: the histogram
 * panel draws it as is). The +Inf bucket has no upper bound to draw: left out when empty; when it is not, it
 * is drawn one bucket wide (to twice its lower bound) and a notice says so.
 */
export function latencyHistogramFrame(latency: ApiLatency, refId: string): DataFrame {
  const xMin: number[] = [];
  const xMax: number[] = [];
  const counts: number[] = [];
  let lower = 0;
  let overflow = 0;
  for (const bucket of latency.buckets) {
    if (bucket.leMs === null) {
      overflow = bucket.count;
      if (overflow > 0) {
        xMin.push(lower);
        xMax.push(lower * 2);
        counts.push(overflow);
      }
      break;
    }
    xMin.push(lower);
    xMax.push(bucket.leMs);
    counts.push(bucket.count);
    lower = bucket.leMs;
  }
  return createDataFrame({
    refId,
    name: 'Latency',
    meta: {
      type: DataFrameType.Histogram,
      preferredVisualisationType: 'graph',
      stats: [
        { displayName: 'Requests', value: latency.count },
        ...(['p50Ms', 'p90Ms', 'p95Ms', 'p99Ms'] as const).flatMap((k) => (latency[k] === null ? [] : [{ displayName: k.replace('Ms', ''), value: latency[k], unit: 'ms' }])),
      ],
      ...(overflow > 0 ? { notices: [{ severity: 'info' as const, text: `${overflow} requests took longer than ${lower} ms; the last bar holds them all` }] } : {}),
    },
    fields: [
      { name: 'xMin', type: FieldType.number, values: xMin, config: { unit: 'ms' } },
      { name: 'xMax', type: FieldType.number, values: xMax, config: { unit: 'ms' } },
      { name: 'count', type: FieldType.number, values: counts, config: { unit: 'short', displayName: 'Requests' } },
    ],
  });
}

const leLabel = (le: number | null) => (le === null ? '+Inf' : String(le));

/**
 * Latency over time as Grafana's heatmap "rows" frame: a time field, then one count field per bucket,
 * lowest first, named and labelled (`le`) by its upper bound in ms, as Prometheus' heatmap format is.
 */
export function latencyHeatmapFrame(heatmap: ApiHeatmap, refId: string): DataFrame {
  return createDataFrame({
    refId,
    name: 'Latency heatmap',
    meta: { type: DataFrameType.HeatmapRows, custom: { yMatchWithLabel: 'le' } },
    fields: [
      { name: 'Time', type: FieldType.time, values: heatmap.times },
      ...heatmap.bucketsLeMs.map((le, b) => ({
        name: leLabel(le),
        type: FieldType.number,
        labels: { le: leLabel(le) },
        values: heatmap.counts.map((row) => row[b] ?? 0),
        config: { unit: 'short' },
      })),
    ],
  });
}

// ---- RED ----

/** Rate, errors and duration over time, one wide time-series frame: requests/s, errors/s, p50, p95, p99. */
export function redFrame(red: ApiRed, refId: string, subject: string): DataFrame {
  return createDataFrame({
    refId,
    name: subject,
    meta: { type: DataFrameType.TimeSeriesWide, preferredVisualisationType: 'graph' },
    fields: [
      { name: 'Time', type: FieldType.time, values: red.times, config: { interval: red.step * 1000 } },
      { name: 'requests/s', type: FieldType.number, values: red.rps, config: { unit: 'reqps' } },
      { name: 'errors/s', type: FieldType.number, values: red.errors.map((e) => round(e / red.step)), config: { unit: 'reqps', color: fixedColor(ARC_COLORS.errors) } },
      { name: 'p50', type: FieldType.number, values: red.p50Ms, config: { unit: 'ms' } },
      { name: 'p95', type: FieldType.number, values: red.p95Ms, config: { unit: 'ms' } },
      { name: 'p99', type: FieldType.number, values: red.p99Ms, config: { unit: 'ms' } },
    ],
  });
}
