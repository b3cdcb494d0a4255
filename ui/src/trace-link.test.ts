import { describe, expect, it } from 'vitest';
import { durationParam, traceSearchHref } from './trace-link.ts';
import { parseState } from './url-state.ts';

describe('links to the traces behind a chart point', () => {
  it('formats durations as the trace search reads them', () => {
    expect(durationParam(20)).toBe('20ms');
    expect(durationParam(1500)).toBe('1.5s');
    expect(durationParam(60_000)).toBe('60s');
    expect(durationParam(0.5)).toBe('500us');
  });

  it('carries the service, the window and the duration range', () => {
    const href = traceSearchHref({ service: 'reviews', start: 1000.4, end: 61_000.2, minDurationMs: 20, maxDurationMs: 50 });
    const params = new URLSearchParams(href);
    expect(href.startsWith('?')).toBe(true);
    expect(Object.fromEntries(params)).toEqual({ view: 'traces', service: 'reviews', start: '1000', end: '61001', minDuration: '20ms', maxDuration: '50ms' });
    // The trace explorer reads it back as its search form.
    const state = parseState(href);
    expect(state.view).toBe('traces');
    expect(state.traceSearch).toEqual({ service: 'reviews', operation: '', tags: '', minDuration: '20ms', maxDuration: '50ms', start: 1000, end: 61_001, limit: 20 });
    // The first bucket has no lower bound, the +Inf one no upper bound; errors become a tag.
    const open = new URLSearchParams(traceSearchHref({ service: 'a', operation: 'GET /x', start: 0, end: 1, minDurationMs: 0, errorsOnly: true }));
    expect(open.has('minDuration')).toBe(false);
    expect(open.has('maxDuration')).toBe(false);
    expect(open.get('operation')).toBe('GET /x');
    expect(open.get('tags')).toBe('error=true');
  });
});
