import { describe, expect, it } from 'vitest';
import { DEFAULT_STATE, formatState, parseState, type ViewState, windowOf } from './url-state.ts';

describe('URL state', () => {
  it('is empty for the default view and reads back to it', () => {
    expect(formatState(DEFAULT_STATE)).toBe('');
    expect(parseState('')).toEqual(DEFAULT_STATE);
  });

  it('round-trips every field', () => {
    const state: ViewState = {
      view: 'graph',
      time: { kind: 'relative', range: '1h' },
      live: false,
      refreshSeconds: 30,
      namespace: 'bookinfo',
      signal: 'envoy-als',
      focus: 'bookinfo/reviews@v2',
      search: 'rev',
      selected: { kind: 'edge', id: 'bookinfo/productpage->bookinfo/reviews@v2' },
      theme: 'dark',
      traceSearch: DEFAULT_STATE.traceSearch,
      traceId: '',
      spanId: '',
    };
    expect(parseState(formatState(state))).toEqual(state);
    const absolute: ViewState = { ...DEFAULT_STATE, time: { kind: 'absolute', from: 1_000, to: 61_000 }, live: false, selected: { kind: 'node', id: 'a/b' } };
    expect(formatState(absolute)).toBe('?from=1000&to=61000&node=a%2Fb');
    expect(parseState(formatState(absolute))).toEqual(absolute);
  });

  it('writes the trace explorer fields under their own names', () => {
    const search = { ...DEFAULT_STATE, view: 'traces' as const, traceSearch: { ...DEFAULT_STATE.traceSearch, service: 'reviews', minDuration: '100ms', start: 5, end: 9 } };
    expect(formatState(search)).toBe('?view=traces&service=reviews&minDuration=100ms&start=5&end=9');
    expect(formatState({ ...DEFAULT_STATE, view: 'trace', traceId: 'abc', spanId: 'def' })).toBe('?view=trace&trace=abc&span=def');
    expect(parseState('?view=traces&limit=0&start=9&end=5').traceSearch).toEqual(DEFAULT_STATE.traceSearch);
    const trace: ViewState = {
      ...DEFAULT_STATE,
      view: 'trace',
      traceSearch: { service: 'reviews', operation: 'GET /reviews', tags: 'error=true', minDuration: '100ms', maxDuration: '2s', start: 1_000, end: 61_000, limit: 50 },
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
    };
    expect(parseState(formatState(trace))).toEqual(trace);
    // Leaving the explorer leaves its fields out of the link.
    expect(formatState({ ...trace, view: 'graph' })).toBe('');
  });

  it('falls back to defaults for unknown or malformed values', () => {
    const state = parseState('?view=nope&range=7y&signal=carrier-pigeon&refresh=3&from=9&to=2&theme=pink');
    expect(state).toEqual(DEFAULT_STATE);
  });

  it('turns a range into a window ending now, and an absolute one into itself', () => {
    expect(windowOf({ kind: 'relative', range: '5m' }, 1_000_000)).toEqual({ start: 700_000, end: 1_000_000 });
    expect(windowOf({ kind: 'absolute', from: 5, to: 9 }, 1_000_000)).toEqual({ start: 5, end: 9 });
  });
});
