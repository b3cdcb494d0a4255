// Links from a chart point or heatmap cell to the traces behind it: the trace search view (view=traces) with
// that window and duration range, written by url-state.ts' formatState so the trace explorer reads it back. Pure.
import { DEFAULT_STATE, DEFAULT_TRACE_SEARCH, formatState } from './url-state.ts';

export interface TraceSearch {
  /** The service whose spans to search (a service name, as Jaeger's search takes it). */
  service: string;
  operation?: string;
  /** Window in Unix ms. */
  start: number;
  end: number;
  minDurationMs?: number;
  maxDurationMs?: number;
  /** Only traces with an error span. */
  errorsOnly?: boolean;
}

/** '20ms', '1.5s': the duration format of Jaeger's search (and of the trace explorer's fields). */
export function durationParam(ms: number): string {
  if (ms >= 1000 && Number.isInteger(ms / 100)) return `${ms / 1000}s`;
  if (Number.isInteger(ms)) return `${ms}ms`;
  return `${Math.round(ms * 1000)}us`;
}

/** The query string (with '?') of the trace search for `search`. */
export function traceSearchHref(search: TraceSearch): string {
  return formatState({
    ...DEFAULT_STATE,
    view: 'traces',
    traceSearch: {
      ...DEFAULT_TRACE_SEARCH,
      service: search.service,
      operation: search.operation ?? '',
      tags: search.errorsOnly ? 'error=true' : '',
      minDuration: search.minDurationMs !== undefined && search.minDurationMs > 0 ? durationParam(search.minDurationMs) : '',
      maxDuration: search.maxDurationMs !== undefined ? durationParam(search.maxDurationMs) : '',
      start: Math.floor(search.start),
      end: Math.ceil(search.end),
    },
  });
}
