// Typed client of meshlens' public HTTP API (../shared/reference/interface.md). The UI reads nothing else.
// Every failure becomes an ApiError whose message says what happened and what to do next.

export type NodeKind = 'service' | 'virtual' | 'database' | 'messaging' | 'unknown';

export const SIGNALS = ['all', 'spans', 'envoy-als', 'envoy-metrics', 'statsd', 'prometheus', 'otlp-metrics', 'otlp-logs'] as const;
export type Signal = (typeof SIGNALS)[number];

export interface ApiNode {
  id: string;
  name: string;
  namespace: string;
  version?: string;
  kind: NodeKind;
  requests: number;
  errors: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export interface ApiEdge {
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

export interface ServiceGraph {
  start: number;
  end: number;
  nodes: ApiNode[];
  edges: ApiEdge[];
}

export interface GraphQuery {
  start: number;
  end: number;
  namespace?: string;
  signal?: Signal;
}

export class ApiError extends Error {
  constructor(
    message: string,
    /** What the user can do about it, one sentence. */
    readonly hint: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

export function serviceGraphUrl(query: GraphQuery): string {
  const params = new URLSearchParams({ start: String(Math.floor(query.start)), end: String(Math.ceil(query.end)) });
  if (query.namespace) params.set('namespace', query.namespace);
  if (query.signal && query.signal !== 'all') params.set('signal', query.signal);
  return `api/v1/service-graph?${params}`;
}

export async function fetchServiceGraph(query: GraphQuery, abort?: AbortSignal): Promise<ServiceGraph> {
  return getJson<ServiceGraph>(serviceGraphUrl(query), abort);
}

/**
 * Where the app (and so the API) is mounted: the bundle sits at <root>/assets/, so this holds for a deep
 * link several levels down and behind a reverse proxy that serves meshlens under a path prefix.
 */
const BUNDLE_URL = import.meta.url; // (through a variable: vite rewrites new URL('…', import.meta.url) as an asset)
const APP_ROOT = new URL('../', BUNDLE_URL);

/** GET a JSON document of the API (served by the same server as the UI). */
export async function getJson<T>(path: string, abort?: AbortSignal): Promise<T> {
  let response: Response;
  try {
    response = await fetch(new URL(path, APP_ROOT), { headers: { accept: 'application/json' }, ...(abort ? { signal: abort } : {}) });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError(`cannot reach meshlens at ${location.host}`, 'Check that meshlens is running (npm start) and that this page was opened from its query port (16686).', null);
  }
  const text = await response.text();
  let body: unknown = undefined;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    // handled below: a non-JSON answer is an error whatever its status
  }
  if (!response.ok) {
    const reason = isErrorBody(body) ? body.error : `HTTP ${response.status}`;
    if (response.status >= 500) throw new ApiError(`meshlens could not answer: ${reason}`, "Retry; if it keeps failing, meshlens' log says why (storage unreachable or overloaded).", response.status);
    throw new ApiError(`the query was refused: ${reason}`, 'Change the time range or filters and try again.', response.status);
  }
  if (body === undefined) throw new ApiError(`meshlens answered ${path.split('?')[0]} with something that is not JSON`, 'Is a proxy in front of meshlens rewriting answers? Open the API URL directly to check.', response.status);
  return body as T;
}

function isErrorBody(body: unknown): body is { error: string } {
  if (typeof body !== 'object' || body === null) return false;
  // The Jaeger-compatible API answers errors in its envelope: { errors: [{ code, msg }] }.
  const jaegerMessage = (body as { errors?: Array<{ msg?: unknown }> | null }).errors?.[0]?.msg;
  if (typeof jaegerMessage === 'string') (body as { error?: unknown }).error ??= jaegerMessage;
  return typeof (body as { error?: unknown }).error === 'string';
}

// ---- latency, RED over time and operations of one node or edge (the side panel) ----------------------------

/** What a side-panel query is about: a node (the calls it served) or an edge (source+target node ids). */
export type LatencySubject = { service: string } | { source: string; target: string };

export interface SubjectQuery {
  subject: LatencySubject;
  start: number;
  end: number;
  signal?: Signal;
  /** Slot length in seconds (≥ 60) for the series. */
  step?: number;
}

function subjectParams(query: SubjectQuery): URLSearchParams {
  const params = new URLSearchParams({ start: String(Math.floor(query.start)), end: String(Math.ceil(query.end)) });
  if ('service' in query.subject) params.set('service', query.subject.service);
  else {
    params.set('source', query.subject.source);
    params.set('target', query.subject.target);
  }
  if (query.signal && query.signal !== 'all') params.set('signal', query.signal);
  if (query.step !== undefined) params.set('step', `${query.step}s`);
  return params;
}

export interface RedAnswer {
  times: number[];
  step: number;
  requests: number[];
  errors: number[];
  rps: number[];
  p50Ms: Array<number | null>;
  p95Ms: Array<number | null>;
  p99Ms: Array<number | null>;
}

export interface LatencyAnswer {
  count: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  buckets: Array<{ leMs: number | null; count: number }>;
}

export interface HeatmapAnswer {
  times: number[];
  bucketsLeMs: Array<number | null>;
  counts: number[][];
}

export interface OperationSummary {
  name: string;
  requests: number;
  errors: number;
  rps: number;
  errorRate: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export const fetchRed = (query: SubjectQuery, abort?: AbortSignal) => getJson<RedAnswer>(`api/v1/red?${subjectParams(query)}`, abort);
export const fetchLatency = (query: SubjectQuery, abort?: AbortSignal) => getJson<LatencyAnswer>(`api/v1/latency?${subjectParams({ ...query, step: undefined } as SubjectQuery)}`, abort);
export const fetchHeatmap = (query: SubjectQuery, abort?: AbortSignal) => getJson<HeatmapAnswer>(`api/v1/latency/heatmap?${subjectParams(query)}`, abort);

/** A service's busiest operations (span names it served) over the window. */
export async function fetchOperations(query: { service: string; start: number; end: number; signal?: Signal; limit?: number }, abort?: AbortSignal): Promise<OperationSummary[]> {
  const params = new URLSearchParams({ service: query.service, start: String(Math.floor(query.start)), end: String(Math.ceil(query.end)), limit: String(query.limit ?? 10) });
  if (query.signal && query.signal !== 'all') params.set('signal', query.signal);
  return (await getJson<{ operations: OperationSummary[] }>(`api/v1/operations?${params}`, abort)).operations;
}
