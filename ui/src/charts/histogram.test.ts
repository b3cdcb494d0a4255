import { describe, expect, it } from 'vitest';
import { binLabel, displayBounds, durationTicks, formatDuration, histogramBins, histogramChart, visibleBins } from './histogram.ts';
import type { ChartBox } from './series.ts';

const box: ChartBox = { width: 300, height: 120, margin: { top: 10, right: 10, bottom: 20, left: 40 } };
const BOUNDS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, null];
const summary = (counts: Record<number, number>) => ({
  count: Object.values(counts).reduce((a, b) => a + b, 0),
  p50Ms: 30,
  p90Ms: 45,
  p95Ms: 48,
  p99Ms: 160,
  buckets: BOUNDS.map((leMs, i) => ({ leMs, count: counts[i] ?? 0 })),
});

describe('latency histogram → bins and bars', () => {
  it('turns upper bounds into [lower, upper) bins with shares', () => {
    const bins = histogramBins(summary({ 4: 2, 5: 6 }));
    expect(bins[0]).toEqual({ lowerMs: 0, upperMs: 1, count: 0, share: 0 });
    expect(bins[5]).toEqual({ lowerMs: 20, upperMs: 50, count: 6, share: 0.75 });
    expect(bins[15]).toEqual({ lowerMs: 60_000, upperMs: null, count: 0, share: 0 });
  });

  it('keeps one empty bin either side of the calls', () => {
    const bins = visibleBins(histogramBins(summary({ 4: 2, 5: 6, 7: 1 })));
    expect(bins.map((b) => b.upperMs)).toEqual([10, 20, 50, 100, 200, 500]);
    // No calls at all: everything, so the axis still says what range it covers.
    expect(visibleBins(histogramBins(summary({})))).toHaveLength(16);
    // Calls in the first and last bucket: nothing to pad.
    expect(visibleBins(histogramBins(summary({ 0: 1, 15: 1 })))).toHaveLength(16);
  });

  it('places bars on a log axis: equal ratios take equal widths', () => {
    const chart = histogramChart(summary({ 4: 2, 5: 6, 7: 1 }), box);
    const x = (ms: number) => chart.x(ms);
    expect(x(20) - x(10)).toBeCloseTo(x(200) - x(100));
    expect(chart.bars[0]!.x).toBeCloseTo(40);
    expect(chart.bars.find((b) => b.bin.upperMs === 50)!.height).toBeGreaterThan(chart.bars.find((b) => b.bin.upperMs === 20)!.height);
    expect(chart.markers.map((m) => m.name)).toEqual(['p50', 'p95', 'p99']);
    expect(chart.markers[0]!.x).toBeCloseTo(x(30));
  });

  it('gives the open-ended buckets a place on the axis', () => {
    expect(displayBounds({ lowerMs: 0, upperMs: 1, count: 0, share: 0 })).toEqual([0.5, 1]);
    expect(displayBounds({ lowerMs: 60_000, upperMs: null, count: 0, share: 0 })).toEqual([60_000, 120_000]);
  });

  it('labels ranges', () => {
    expect(binLabel(0, 1)).toBe('< 1 ms');
    expect(binLabel(20, 50)).toBe('20 ms–50 ms');
    expect(binLabel(60_000, null)).toBe('≥ 60 s');
    expect(formatDuration(1500)).toBe('1.5 s');
    expect(formatDuration(0.25)).toBe('0.25 ms');
  });

  it('ticks a log axis at 1-2-5 steps, at most six of them', () => {
    expect(durationTicks([10, 500])).toEqual([10, 20, 50, 100, 200, 500]);
    // 17 candidates from 0.5 ms to 100 s: every third.
    expect(durationTicks([0.5, 120_000])).toEqual([0.5, 5, 50, 500, 5000, 50_000]);
  });
});
