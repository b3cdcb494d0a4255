// A latency heatmap (GET /api/v1/latency/heatmap) → cells: one column per time slot, one row per latency
// bucket (fastest at the bottom), colour by count on a square-root scale so a few slow calls still show. Pure.
import { type ScaleBand, type ScaleTime, scaleBand, scaleSqrt, scaleTime } from 'd3-scale';
import type { ChartBox } from './series.ts';

/** The answer of GET /api/v1/latency/heatmap: counts[slot][bucket]; the last bucket bound is null (+Inf). */
export interface HeatmapData {
  times: number[];
  bucketsLeMs: Array<number | null>;
  counts: number[][];
}

export interface HeatmapCell {
  slot: number;
  bucket: number;
  /** The slot's window [start, end). */
  start: number;
  end: number;
  /** The bucket's latency range [lowerMs, upperMs); upperMs null = +Inf. */
  lowerMs: number;
  upperMs: number | null;
  count: number;
  x: number;
  y: number;
  width: number;
  height: number;
  colour: string;
}

export interface HeatmapChart {
  x: ScaleTime<number, number>;
  /** Bucket index → row band. */
  y: ScaleBand<number>;
  /** The drawn buckets (a contiguous range around the non-empty ones), bottom row first. */
  buckets: number[];
  /** Only cells with calls. */
  cells: HeatmapCell[];
  maxCount: number;
}

/** The bucket rows worth drawing: one below the fastest used bucket to one above the slowest. */
export function usedBuckets(data: HeatmapData): number[] {
  let first = Infinity;
  let last = -Infinity;
  for (const row of data.counts) {
    row.forEach((count, bucket) => {
      if (count > 0) {
        first = Math.min(first, bucket);
        last = Math.max(last, bucket);
      }
    });
  }
  const size = data.bucketsLeMs.length;
  if (first === Infinity) return Array.from({ length: size }, (_, i) => i);
  const from = Math.max(0, first - 1);
  const to = Math.min(size - 1, last + 1);
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** count → colour, from `low` (fewest) to `high` (most), on a square-root scale over [1, max]. */
export function heatColour(maxCount: number, low: string, high: string): (count: number) => string {
  const scale = scaleSqrt<string>().domain([0, Math.max(1, maxCount)]).range([low, high]).clamp(true);
  return (count) => scale(count);
}

export function heatmapChart(data: HeatmapData, stepSeconds: number, box: ChartBox, colours: { low: string; high: string }): HeatmapChart {
  const stepMs = stepSeconds * 1000;
  const first = data.times[0] ?? 0;
  const last = (data.times[data.times.length - 1] ?? first) + stepMs;
  const x = scaleTime().domain([new Date(first), new Date(last)]).range([box.margin.left, box.width - box.margin.right]);
  const buckets = usedBuckets(data);
  // Bottom row = fastest bucket: the band's range runs upwards.
  const y = scaleBand<number>().domain(buckets).range([box.height - box.margin.bottom, box.margin.top]).paddingInner(0.06);
  let maxCount = 0;
  for (const row of data.counts) for (const count of row) maxCount = Math.max(maxCount, count);
  const colour = heatColour(maxCount, colours.low, colours.high);
  const cells: HeatmapCell[] = [];
  data.times.forEach((start, slot) => {
    const x0 = x(new Date(start));
    const x1 = x(new Date(start + stepMs));
    for (const bucket of buckets) {
      const count = data.counts[slot]?.[bucket] ?? 0;
      if (count <= 0) continue;
      // range() runs upwards, so a band's y is its top edge in screen terms.
      const top = y(bucket)!;
      cells.push({
        slot,
        bucket,
        start,
        end: start + stepMs,
        lowerMs: bucket === 0 ? 0 : (data.bucketsLeMs[bucket - 1] ?? 0),
        upperMs: data.bucketsLeMs[bucket] ?? null,
        count,
        x: x0,
        y: top,
        width: Math.max(0.5, x1 - x0 - (x1 - x0 > 4 ? 1 : 0)),
        height: y.bandwidth(),
        colour: colour(count),
      });
    }
  });
  return { x, y, buckets, cells, maxCount };
}
