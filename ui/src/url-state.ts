// All view state lives in the URL query string, so a shared link reopens the same view and the browser's
// back/forward buttons walk through it. parseState/formatState are pure; the rest is the browser glue.
import { SIGNALS, type Signal } from './api.ts';

export const VIEWS = ['graph', 'traces', 'trace'] as const;
export type ViewName = (typeof VIEWS)[number];

/** Relative windows offered by the time-range picker, in milliseconds. */
export const RANGES = { '5m': 300_000, '15m': 900_000, '1h': 3_600_000, '6h': 21_600_000, '24h': 86_400_000 } as const;
export type RangeName = keyof typeof RANGES;

/** Refresh intervals offered in live mode, in seconds. */
export const REFRESH_INTERVALS = [5, 10, 30, 60] as const;

export type TimeRange = { kind: 'relative'; range: RangeName } | { kind: 'absolute'; from: number; to: number };

export type Selection = { kind: 'node'; id: string } | { kind: 'edge'; id: string };

export type ThemeChoice = 'auto' | 'light' | 'dark';

/**
 * The trace search form. `tags` is the text as typed (`error=true http.status_code=500`); durations are Go
 * durations as the API takes them (`100ms`); start/end are Unix ms, both null for the `range` window ending now.
 */
export interface TraceSearchState {
  service: string;
  operation: string;
  tags: string;
  minDuration: string;
  maxDuration: string;
  start: number | null;
  end: number | null;
  limit: number;
}

export const DEFAULT_TRACE_SEARCH: TraceSearchState = { service: '', operation: '', tags: '', minDuration: '', maxDuration: '', start: null, end: null, limit: 20 };
export const TRACE_LIMITS = [20, 50, 100, 500, 1500] as const;

export interface ViewState {
  view: ViewName;
  time: TimeRange;
  /** Auto-refresh; only meaningful for a relative range (an absolute window does not move). */
  live: boolean;
  refreshSeconds: number;
  namespace: string;
  signal: Signal;
  /** Node id whose neighbourhood alone is shown; '' for the whole graph. */
  focus: string;
  search: string;
  selected: Selection | null;
  /** A theme forced by the link; 'auto' leaves it to the stored choice or the system. */
  theme: ThemeChoice;
  /** view=traces: the trace search form. */
  traceSearch: TraceSearchState;
  /** view=trace: the trace shown (`trace=`) and its selected span (`span=`). */
  traceId: string;
  spanId: string;
  /** view=graph: the timeline scrubber's frame (`at=` its start, `frame=` its length in s); absent: no replay. */
  replay?: Replay;
}

/** A replayed frame of a fixed window: only with an absolute time range. */
export interface Replay {
  at: number;
  frameSeconds: number;
}

export const DEFAULT_STATE: ViewState = {
  view: 'graph',
  time: { kind: 'relative', range: '15m' },
  live: true,
  refreshSeconds: 10,
  namespace: '',
  signal: 'all',
  focus: '',
  search: '',
  selected: null,
  theme: 'auto',
  traceSearch: DEFAULT_TRACE_SEARCH,
  traceId: '',
  spanId: '',
};

const isOneOf = <T extends string>(values: readonly T[], value: string | null): value is T => value !== null && (values as readonly string[]).includes(value);

/** Reads a query string (with or without '?'); anything unknown or malformed falls back to the default. */
export function parseState(search: string): ViewState {
  const params = new URLSearchParams(search);
  const state: ViewState = { ...DEFAULT_STATE };
  const view = params.get('view');
  if (isOneOf(VIEWS, view)) state.view = view;
  const from = Number(params.get('from'));
  const to = Number(params.get('to'));
  const range = params.get('range');
  if (params.has('from') && params.has('to') && Number.isFinite(from) && Number.isFinite(to) && from < to) {
    state.time = { kind: 'absolute', from, to };
    state.live = false;
  } else if (range !== null && Object.hasOwn(RANGES, range)) {
    state.time = { kind: 'relative', range: range as RangeName };
  }
  if (state.time.kind === 'relative') state.live = params.get('live') !== '0';
  const refresh = Number(params.get('refresh'));
  if ((REFRESH_INTERVALS as readonly number[]).includes(refresh)) state.refreshSeconds = refresh;
  state.namespace = params.get('namespace') ?? '';
  const signal = params.get('signal');
  if (isOneOf(SIGNALS, signal)) state.signal = signal;
  state.focus = params.get('focus') ?? '';
  state.search = params.get('q') ?? '';
  const node = params.get('node');
  const edge = params.get('edge');
  if (node) state.selected = { kind: 'node', id: node };
  else if (edge) state.selected = { kind: 'edge', id: edge };
  const theme = params.get('theme');
  if (isOneOf(['light', 'dark'] as const, theme)) state.theme = theme;
  state.traceSearch = parseTraceSearch(params);
  state.traceId = params.get('trace') ?? '';
  state.spanId = params.get('span') ?? '';
  const at = Number(params.get('at'));
  const frame = Number(params.get('frame'));
  if (state.time.kind === 'absolute' && params.has('at') && Number.isFinite(at)) state.replay = { at, frameSeconds: Number.isInteger(frame) && frame >= 60 && frame % 60 === 0 ? frame : 60 };
  return state;
}

/** The query string (with '?', or '' when everything is default) that parseState reads back to `state`. */
export function formatState(state: ViewState): string {
  const params = new URLSearchParams();
  if (state.view !== DEFAULT_STATE.view) params.set('view', state.view);
  if (state.time.kind === 'absolute') {
    params.set('from', String(state.time.from));
    params.set('to', String(state.time.to));
  } else {
    if (state.time.range !== '15m') params.set('range', state.time.range);
    if (!state.live) params.set('live', '0');
  }
  if (state.refreshSeconds !== DEFAULT_STATE.refreshSeconds) params.set('refresh', String(state.refreshSeconds));
  if (state.namespace) params.set('namespace', state.namespace);
  if (state.signal !== 'all') params.set('signal', state.signal);
  if (state.focus) params.set('focus', state.focus);
  if (state.search) params.set('q', state.search);
  if (state.selected) params.set(state.selected.kind, state.selected.id);
  if (state.theme !== 'auto') params.set('theme', state.theme);
  // The search rides along into a trace (for "← Search"); other views leave both out of their links.
  if (state.view === 'traces' || state.view === 'trace') formatTraceSearch(state.traceSearch, params);
  if (state.view === 'trace' && state.traceId) params.set('trace', state.traceId);
  if (state.view === 'trace' && state.spanId) params.set('span', state.spanId);
  if (state.replay && state.time.kind === 'absolute') {
    params.set('at', String(state.replay.at));
    if (state.replay.frameSeconds !== 60) params.set('frame', String(state.replay.frameSeconds));
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

// ---- trace explorer (view=traces, view=trace) -----------------------------------------------------------


function parseTraceSearch(params: URLSearchParams): TraceSearchState {
  const search: TraceSearchState = { ...DEFAULT_TRACE_SEARCH };
  for (const key of ['service', 'operation', 'tags', 'minDuration', 'maxDuration'] as const) search[key] = params.get(key) ?? '';
  const start = Number(params.get('start'));
  const end = Number(params.get('end'));
  if (params.has('start') && params.has('end') && Number.isFinite(start) && Number.isFinite(end) && start < end) {
    search.start = start;
    search.end = end;
  }
  const limit = Number(params.get('limit'));
  if (Number.isInteger(limit) && limit >= 1 && limit <= 10_000) search.limit = limit;
  return search;
}

function formatTraceSearch(search: TraceSearchState, params: URLSearchParams): void {
  for (const key of ['service', 'operation', 'tags', 'minDuration', 'maxDuration'] as const) if (search[key]) params.set(key, search[key]);
  if (search.start !== null && search.end !== null) {
    params.set('start', String(search.start));
    params.set('end', String(search.end));
  }
  if (search.limit !== DEFAULT_TRACE_SEARCH.limit) params.set('limit', String(search.limit));
}

/** The [start, end] in ms that a state asks for at time `now`. */
export function windowOf(time: TimeRange, now: number): { start: number; end: number } {
  return time.kind === 'absolute' ? { start: time.from, end: time.to } : { start: now - RANGES[time.range], end: now };
}

// ---- browser glue ------------------------------------------------------------------------------------------

type Listener = (state: ViewState) => void;
const listeners = new Set<Listener>();

export function currentState(): ViewState {
  return parseState(location.search);
}

/**
 * Moves to a new state. `push` adds a history entry (a choice the user may want to go back from: a selection,
 * a filter); `replace` does not (typing in the search box).
 */
export function navigate(change: Partial<ViewState>, mode: 'push' | 'replace' = 'push'): void {
  const next = { ...currentState(), ...change };
  const url = `${location.pathname}${formatState(next)}${location.hash}`;
  if (url === `${location.pathname}${location.search}${location.hash}`) return;
  if (mode === 'push') history.pushState(null, '', url);
  else history.replaceState(null, '', url);
  for (const listener of listeners) listener(next);
}

/** Calls `listener` on every state change, ours or the browser's back/forward. */
export function onStateChange(listener: Listener): void {
  if (listeners.size === 0) window.addEventListener('popstate', () => listeners.forEach((l) => l(currentState())));
  listeners.add(listener);
}
