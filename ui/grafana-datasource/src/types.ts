// The plugin's query and settings model, and the meshlens API shapes it reads (interface.md is the
// contract; these mirror it so the bundle does not import server code).
import type { DataQuery, DataSourceJsonData } from '@grafana/data';

export const QUERY_TYPES = ['serviceGraph', 'traceSearch', 'traceId', 'latency', 'latencyHeatmap', 'red'] as const;
export type MeshlensQueryType = (typeof QUERY_TYPES)[number];

export const SIGNALS = ['all', 'spans', 'envoy-als', 'envoy-metrics', 'statsd', 'prometheus', 'otlp-metrics', 'otlp-logs'] as const;
export type MeshlensSignal = (typeof SIGNALS)[number];

/** What the node graph shows inside circles and on edges; the other one becomes the secondary stat. */
export type GraphMainStat = 'rps' | 'p95';

export interface MeshlensQuery extends DataQuery {
  queryType?: MeshlensQueryType;
  namespace?: string;
  /** Service graph: focus node; latency/RED: the service (node id or name); trace search: service name. */
  service?: string;
  signal?: MeshlensSignal;
  /** Latency/RED of one edge instead of a service: node ids as the service graph gives them. */
  source?: string;
  target?: string;
  /** Latency/RED of one operation of `service`; trace search: span name. */
  operation?: string;
  traceId?: string;
  /** Trace search: Jaeger-style filters. */
  tags?: string;
  minDuration?: string;
  maxDuration?: string;
  limit?: number;
  /** Heatmap/RED step (`1m`, `5m`, `1h`); default about 60 points over the range. */
  step?: string;
  graphMainStat?: GraphMainStat;
}

export const DEFAULT_QUERY: Partial<MeshlensQuery> = { queryType: 'serviceGraph', signal: 'all', graphMainStat: 'rps' };

/** Non-secret settings. `url` is where Grafana's proxy sends the plugin's `meshlens` route. */
export interface MeshlensOptions extends DataSourceJsonData {
  url?: string;
}

/** Secret settings, encrypted by Grafana and only applied by its proxy (plugin.json `routes`). */
export interface MeshlensSecureOptions {
  /** The whole Authorization header value, e.g. `Bearer abc…` or `Basic …`. */
  authHeader?: string;
}

// ---- meshlens API responses ----

// The same API the web UI reads: its answer shapes are declared once, in the web UI's client.
export type {
  NodeKind,
  ApiNode as ApiGraphNode,
  ApiEdge as ApiGraphEdge,
  ServiceGraph as ApiServiceGraph,
  LatencyAnswer as ApiLatency,
  HeatmapAnswer as ApiHeatmap,
  RedAnswer as ApiRed,
} from '../../src/api.ts';

export interface JaegerTag {
  key: string;
  type: string;
  value: string | number | boolean;
}

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: Array<{ refType: string; traceID: string; spanID: string }>;
  /** µs since the epoch */
  startTime: number;
  /** µs */
  duration: number;
  tags: JaegerTag[];
  logs: Array<{ timestamp: number; fields: JaegerTag[] }>;
  processID: string;
  warnings: string[] | null;
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags: JaegerTag[] }>;
  warnings: string[] | null;
}

export interface JaegerEnvelope<T> {
  data: T;
  errors: Array<{ code: number; msg: string }> | null;
}
