import { describe, expect, it } from 'vitest';
import { type ChartBox, type RedSeries, countChart, latencyChart, redTotals, slotAt, slotSeconds } from './series.ts';

const box: ChartBox = { width: 260, height: 100, margin: { top: 10, right: 10, bottom: 20, left: 50 } };
const t0 = 1_764_140_000_000;
const red: RedSeries = {
  times: [t0, t0 + 60_000, t0 + 120_000, t0 + 180_000],
  step: 60,
  requests: [10, 0, 5.5, 4.5],
  errors: [1, 0, 0, 2],
  rps: [10 / 60, 0, 5.5 / 60, 4.5 / 60],
  p50Ms: [20, null, 30, 25],
  p95Ms: [40, null, 60, 50],
  p99Ms: [45, null, 90, 55],
};

describe('RED series → chart geometry', () => {
  it('totals are the sums of the slots', () => {
    expect(redTotals(red)).toEqual({ requests: 20, errors: 3, errorRate: 0.15 });
    expect(redTotals({ ...red, requests: [0, 0, 0, 0], errors: [0, 0, 0, 0] }).errorRate).toBe(0);
  });

  it('draws one bar per slot spanning its window, taller for more', () => {
    const chart = countChart(red, red.requests, box);
    expect(chart.bars.map((b) => [b.start, b.end])).toEqual(red.times.map((t) => [t, t + 60_000]));
    expect(chart.bars[0]!.x).toBe(50);
    // The four slots fill the plot's width (200 px), 1 px between bars.
    expect(chart.bars[0]!.width).toBeCloseTo(49);
    expect(chart.bars[1]!.height).toBe(0);
    expect(chart.bars[0]!.height).toBeGreaterThan(chart.bars[2]!.height);
    expect(chart.bars[0]!.y + chart.bars[0]!.height).toBe(80);
    // An all-zero series still has a usable axis.
    expect(countChart(red, [0, 0, 0, 0], box).y.domain()).toEqual([0, 1]);
  });

  it('breaks the percentile lines at slots without calls and keeps p99 above p50', () => {
    const chart = latencyChart(red, box);
    // Two segments: slot 0 alone (a lone point is a 'M' only), then slots 2-3.
    expect(chart.lines.p95.match(/M/g)).toHaveLength(2);
    expect(chart.points.p95.map((p) => p.index)).toEqual([0, 2, 3]);
    for (let i = 0; i < 3; i++) expect(chart.points.p99[i]!.y).toBeLessThanOrEqual(chart.points.p50[i]!.y);
    // Points sit in the middle of their slot.
    expect(chart.points.p50[0]!.x).toBeCloseTo(75);
    expect(chart.y.domain()[1]).toBeGreaterThanOrEqual(90);
  });

  it('finds the slot under a screen x', () => {
    const { x } = countChart(red, red.requests, box);
    expect(slotAt(red, x, 51)).toBe(0);
    expect(slotAt(red, x, 151)).toBe(2);
    expect(slotAt(red, x, 249)).toBe(3);
    expect(slotAt(red, x, 20)).toBe(-1);
    expect(slotAt(red, x, 255)).toBe(-1);
  });

  it('slots a window into whole minutes, about 30 of them', () => {
    expect(slotSeconds({ start: 0, end: 900_000 })).toBe(60);
    expect(slotSeconds({ start: 0, end: 3_600_000 })).toBe(120);
    expect(slotSeconds({ start: 0, end: 86_400_000 })).toBe(2880);
    expect(slotSeconds({ start: 0, end: 60_000 })).toBe(60);
  });
});
