import { describe, expect, it } from 'vitest';
import { isGoDuration, parseTagFilter, searchUrl } from './jaeger-api.ts';

describe('Jaeger API client', () => {
  it('reads the tag filter as logfmt, quoted values allowed', () => {
    expect(parseTagFilter('')).toEqual({ tags: {} });
    expect(parseTagFilter(' error=true  http.status_code=500 msg="not found" ')).toEqual({ tags: { error: 'true', 'http.status_code': '500', msg: 'not found' } });
    expect(parseTagFilter('justakey')).toHaveProperty('error');
  });

  it('accepts the durations the API accepts', () => {
    expect(['100ms', '1.5s', '1m30s', '500us', '2h'].every(isGoDuration)).toBe(true);
    expect(['100', 'fast', '1.5', 'ms'].some(isGoDuration)).toBe(false);
  });

  it('asks the API with µs times and JSON tags', () => {
    expect(decodeURIComponent(searchUrl({ service: 'reviews', operation: '', tags: { error: 'true' }, minDuration: '10ms', maxDuration: '', start: 1_000, end: 2_000, limit: 20 }))).toBe(
      'api/traces?service=reviews&tags={"error":"true"}&minDuration=10ms&start=1000000&end=2000000&limit=20',
    );
  });
});
