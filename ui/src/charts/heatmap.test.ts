import { describe, expect, it } from 'vitest';
import { type HeatmapData, heatColour, heatmapChart, usedBuckets } from './heatmap.ts';
import type { ChartBox } from './series.ts';

const box: ChartBox = { width: 240, height: 130, margin: { top: 10, right: 10, bottom: 20, left: 30 } };
const t0 = 1_764_140_040_000;
const BOUNDS = [1, 2, 5, 10, 20, 50, 100, null];
const row = (counts: Record<number, number>) => BOUNDS.map((_, i) => counts[i] ?? 0);
const data: HeatmapData = {
  times: [t0, t0 + 120_000, t0 + 240_000],
  bucketsLeMs: BOUNDS,
  counts: [row({ 3: 4, 4: 1 }), row({}), row({ 4: 16, 6: 1 })],
};

describe('latency heatmap → cells', () => {
  it('keeps the bucket rows around the used ones', () => {
    expect(usedBuckets(data)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(usedBuckets({ ...data, counts: [row({})] })).toHaveLength(BOUNDS.length);
  });

  it('draws a cell per slot and bucket with calls, with its window and latency range', () => {
    const chart = heatmapChart(data, 120, box, { low: '#ffffff', high: '#000000' });
    expect(chart.cells.map((c) => [c.slot, c.bucket, c.count])).toEqual([
      [0, 3, 4],
      [0, 4, 1],
      [2, 4, 16],
      [2, 6, 1],
    ]);
    const slow = chart.cells[3]!;
    expect([slow.start, slow.end, slow.lowerMs, slow.upperMs]).toEqual([t0 + 240_000, t0 + 360_000, 50, 100]);
    // Columns follow time; the fastest row is lowest on screen.
    expect(chart.cells[2]!.x).toBeGreaterThan(chart.cells[0]!.x);
    expect(chart.cells[0]!.y).toBeGreaterThan(chart.cells[1]!.y);
    expect(chart.cells[0]!.x).toBeCloseTo(30);
    expect(chart.cells[0]!.width).toBeCloseTo(200 / 3 - 1);
    expect(chart.maxCount).toBe(16);
    // The +Inf row has no upper bound.
    const inf = heatmapChart({ ...data, counts: [row({ 7: 2 }), row({}), row({})] }, 120, box, { low: '#fff', high: '#000' });
    expect(inf.cells[0]).toMatchObject({ lowerMs: 100, upperMs: null });
  });

  it('colours more calls darker on a square-root scale', () => {
    const colour = heatColour(16, 'rgb(255, 255, 255)', 'rgb(0, 0, 0)');
    expect(colour(16)).toBe('rgb(0, 0, 0)');
    // sqrt(4/16) = 0.5 of the way.
    expect(colour(4)).toBe('rgb(128, 128, 128)');
    expect(colour(1)).not.toBe(colour(0));
  });
});
