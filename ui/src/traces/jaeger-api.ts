// Client of the Jaeger-compatible API the query service serves (query/jaeger.ts): services, operations,
// trace search and one trace by id. Shapes as Jaeger's UI model; times in microseconds.
import { getJson } from '../api.ts';

export interface JaegerTag {
  key: string;
  type: 'string' | 'bool' | 'int64' | 'float64' | 'binary';
  value: string | number | boolean;
}

export interface JaegerReference {
  refType: 'CHILD_OF' | 'FOLLOWS_FROM';
  traceID: string;
  spanID: string;
}

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: JaegerReference[];
  /** Unix µs. */
  startTime: number;
  /** µs. */
  duration: number;
  tags: JaegerTag[];
  logs: Array<{ timestamp: number; fields: JaegerTag[] }>;
  processID: string;
  warnings: string[] | null;
  flags?: number;
}

export interface JaegerProcess {
  serviceName: string;
  tags: JaegerTag[];
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, JaegerProcess>;
  warnings: string[] | null;
}

interface Envelope<T> {
  data: T;
}

export interface TraceSearch {
  service: string;
  operation: string;
  /** Jaeger's tag filter as JSON ({"http.status_code":"500"}); see parseTagFilter. */
  tags: Record<string, string>;
  /** Go durations ("100ms", "1.5s"), '' for none. */
  minDuration: string;
  maxDuration: string;
  /** Unix ms. */
  start: number;
  end: number;
  limit: number;
}

export function searchUrl(search: TraceSearch): string {
  const params = new URLSearchParams();
  if (search.service) params.set('service', search.service);
  if (search.operation) params.set('operation', search.operation);
  if (Object.keys(search.tags).length > 0) params.set('tags', JSON.stringify(search.tags));
  if (search.minDuration) params.set('minDuration', search.minDuration);
  if (search.maxDuration) params.set('maxDuration', search.maxDuration);
  params.set('start', String(Math.floor(search.start) * 1000));
  params.set('end', String(Math.ceil(search.end) * 1000));
  params.set('limit', String(search.limit));
  return `api/traces?${params}`;
}

export async function fetchServices(abort?: AbortSignal): Promise<string[]> {
  return (await getJson<Envelope<string[] | null>>('api/services', abort)).data ?? [];
}

export async function fetchOperations(service: string, abort?: AbortSignal): Promise<string[]> {
  return (await getJson<Envelope<string[] | null>>(`api/services/${encodeURIComponent(service)}/operations`, abort)).data ?? [];
}

/**
 * The traces of the last search, whole (the API answers searches with complete traces): opening one from the
 * result list needs no second fetch. The trace view still refetches in the background for late spans.
 */
const lastSearchTraces = new Map<string, JaegerTrace>();

export async function searchTraces(search: TraceSearch, abort?: AbortSignal): Promise<JaegerTrace[]> {
  const traces = (await getJson<Envelope<JaegerTrace[] | null>>(searchUrl(search), abort)).data ?? [];
  lastSearchTraces.clear();
  for (const trace of traces) lastSearchTraces.set(trace.traceID, trace);
  return traces;
}

/** The trace as the last search returned it, if it did. */
export function traceFromLastSearch(traceId: string): JaegerTrace | undefined {
  return lastSearchTraces.get(traceId.toLowerCase().padStart(32, '0'));
}

export async function fetchTrace(traceId: string, abort?: AbortSignal): Promise<JaegerTrace> {
  const traces = (await getJson<Envelope<JaegerTrace[] | null>>(`api/traces/${encodeURIComponent(traceId)}`, abort)).data ?? [];
  const trace = traces[0];
  if (trace === undefined) throw new Error(`trace not found: ${traceId}`);
  return trace;
}

/**
 * The tag filter as typed in the form — logfmt like Jaeger's UI: `error=true http.status_code=500`,
 * values with spaces in double quotes — into the API's object. Returns an error text for malformed input.
 */
export function parseTagFilter(text: string): { tags: Record<string, string> } | { error: string } {
  const tags: Record<string, string> = {};
  const pattern = /\s*([^\s=]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))/y;
  let rest = text.trim();
  while (rest !== '') {
    pattern.lastIndex = 0;
    const match = pattern.exec(rest);
    if (match === null) return { error: `tags must be key=value pairs separated by spaces (near "${rest.slice(0, 20)}")` };
    tags[match[1]!] = match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : match[3]!;
    rest = rest.slice(match[0].length).trim();
  }
  return { tags };
}

/** True for a Go duration the API accepts ("250ms", "1.5s", "1m30s", "500us"). */
export function isGoDuration(text: string): boolean {
  return /^(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|µs|ms|s|m|h))+$/.test(text);
}
