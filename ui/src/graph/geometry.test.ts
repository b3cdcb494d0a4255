import { describe, expect, it } from 'vitest';
import { distanceToCurve, edgeCurve, edgeLabel, edgeWidth, flowOf, formatMs, formatPercent, formatRps, healthOf, pointOnCurve, reversedPairs } from './geometry.ts';

describe('traffic encodings', () => {
  it('widens edges with the log of the rate, from 1 to at most 9', () => {
    expect(edgeWidth(0)).toBe(1);
    const widths = [0.01, 0.1, 1, 10, 100, 1000, 9000].map(edgeWidth);
    for (let i = 1; i < widths.length; i++) expect(widths[i]!).toBeGreaterThan(widths[i - 1]!);
    expect(edgeWidth(1e6)).toBe(9);
    // Logarithmic: ten times the rate adds about the same width, it does not multiply it.
    expect(edgeWidth(100) - edgeWidth(10)).toBeCloseTo(edgeWidth(1000) - edgeWidth(100), 1);
  });

  it("colours by error share with Kiali's thresholds, and idle when nothing was served", () => {
    expect(healthOf(0, 10)).toBe('ok');
    expect(healthOf(0.0009, 10_000)).toBe('ok');
    expect(healthOf(0.001, 10_000)).toBe('warn');
    expect(healthOf(0.0499, 100)).toBe('warn');
    expect(healthOf(0.05, 100)).toBe('error');
    expect(healthOf(0, 0)).toBe('idle');
  });

  it('moves more and faster dots for more traffic, none for none', () => {
    expect(flowOf(0)).toEqual({ dots: 0, speed: 0 });
    const slow = flowOf(0.01);
    const fast = flowOf(500);
    expect(slow.dots).toBeGreaterThanOrEqual(1);
    expect(fast.dots).toBeGreaterThan(slow.dots);
    expect(fast.speed).toBeGreaterThan(slow.speed);
    expect(flowOf(1e9).dots).toBeLessThanOrEqual(6);
  });

  it('formats the label numbers', () => {
    expect([0, 0.004, 0.0312, 12.34, 1234].map(formatRps)).toEqual(['0 rps', '<0.01 rps', '0.03 rps', '12.3 rps', '1.2k rps']);
    expect([0, 0.0004, 0.0123, 0.5].map(formatPercent)).toEqual(['0%', '<0.1%', '1.2%', '50%']);
    expect([null, 0.5, 5.94, 35.3, 1234, 12_345].map(formatMs)).toEqual(['–', '0.50 ms', '5.9 ms', '35 ms', '1234 ms', '12.3 s']);
    expect(edgeLabel({ rps: 2.5, errorRate: 0.1, p95Ms: 31 })).toBe('2.50 rps · 10% · p95 31 ms');
  });
});

describe('edge curves', () => {
  it('run from rim to rim and bend opposite edges apart', () => {
    const a = { x: 0, y: 0 };
    const b = { x: 200, y: 0 };
    const there = edgeCurve(a, b, true);
    const back = edgeCurve(b, a, true);
    expect(Math.hypot(there.from.x - a.x, there.from.y - a.y)).toBeCloseTo(20, 5);
    expect(Math.sign(pointOnCurve(there, 0.5).y)).toBe(-Math.sign(pointOnCurve(back, 0.5).y));
    expect(distanceToCurve(there, pointOnCurve(there, 0.3))).toBeLessThan(0.5);
    expect(distanceToCurve(there, { x: 100, y: 200 })).toBeGreaterThan(100);
  });

  it('finds the edges whose reverse exists', () => {
    const edge = (source: string, target: string) => ({ id: `${source}->${target}`, source, target, protocols: [], requests: 1, errors: 0, rps: 1, errorRate: 0, p50Ms: null, p95Ms: null, p99Ms: null, mtls: 'unknown' as const, signals: [] });
    expect([...reversedPairs([edge('a', 'b'), edge('b', 'a'), edge('b', 'c')])].sort()).toEqual(['a->b', 'b->a']);
  });
});
