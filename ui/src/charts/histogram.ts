// A latency histogram (GET /api/v1/latency) → bins and bars on a logarithmic duration axis. The API's buckets
// are per-bucket counts with upper bounds (the last one +Inf); a bin here is [lowerMs, upperMs). Pure.
import { type ScaleLinear, type ScaleLogarithmic, scaleLinear, scaleLog } from 'd3-scale';
import type { ChartBox } from './series.ts';

export interface LatencySummary {
  count: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  buckets: Array<{ leMs: number | null; count: number }>;
}

export interface HistogramBin {
  /** 0 for the first bucket. */
  lowerMs: number;
  /** null: the open-ended last bucket (+Inf). */
  upperMs: number | null;
  count: number;
  /** count / total (0 when there are no calls). */
  share: number;
}

/** The API's buckets as bins with both bounds. */
export function histogramBins(summary: Pick<LatencySummary, 'buckets'>): HistogramBin[] {
  const total = summary.buckets.reduce((sum, b) => sum + b.count, 0);
  let lowerMs = 0;
  return summary.buckets.map((bucket) => {
    const bin = { lowerMs, upperMs: bucket.leMs, count: bucket.count, share: total > 0 ? bucket.count / total : 0 };
    if (bucket.leMs !== null) lowerMs = bucket.leMs;
    return bin;
  });
}

/**
 * The bins worth drawing: from one before the first non-empty bin to one after the last (so the shape has an
 * edge on both sides), all of them when every bin is empty.
 */
export function visibleBins(bins: readonly HistogramBin[]): HistogramBin[] {
  const first = bins.findIndex((b) => b.count > 0);
  if (first < 0) return [...bins];
  let last = bins.length - 1;
  while (last > first && bins[last]!.count === 0) last--;
  return bins.slice(Math.max(0, first - 1), Math.min(bins.length, last + 2));
}

/** Where a bin sits on a log axis: the first bucket (from 0) starts at half its upper bound, +Inf ends at twice its lower. */
export function displayBounds(bin: HistogramBin): [number, number] {
  const upper = bin.upperMs ?? Math.max(1, bin.lowerMs) * 2;
  const lower = bin.lowerMs > 0 ? bin.lowerMs : upper / 2;
  return [lower, upper];
}

export interface HistogramBar {
  bin: HistogramBin;
  x: number;
  width: number;
  y: number;
  height: number;
}

export interface HistogramChart {
  x: ScaleLogarithmic<number, number>;
  y: ScaleLinear<number, number>;
  bars: HistogramBar[];
  /** Screen x of each percentile that is known. */
  markers: Array<{ name: 'p50' | 'p95' | 'p99'; valueMs: number; x: number }>;
}

export function histogramChart(summary: LatencySummary, box: ChartBox): HistogramChart {
  const bins = visibleBins(histogramBins(summary));
  const lo = Math.min(...bins.map((b) => displayBounds(b)[0]));
  const hi = Math.max(...bins.map((b) => displayBounds(b)[1]));
  const x = scaleLog().domain([lo, hi]).range([box.margin.left, box.width - box.margin.right]).clamp(true);
  const max = Math.max(0, ...bins.map((b) => b.count));
  const y = scaleLinear().domain([0, max > 0 ? max : 1]).nice(4).range([box.height - box.margin.bottom, box.margin.top]);
  const bars = bins.map((bin) => {
    const [lower, upper] = displayBounds(bin);
    const x0 = x(lower);
    const x1 = x(upper);
    return { bin, x: x0, width: Math.max(0.5, x1 - x0 - 1), y: y(bin.count), height: y(0) - y(bin.count) };
  });
  const markers = (['p50', 'p95', 'p99'] as const).flatMap((name) => {
    const valueMs = summary[`${name}Ms`];
    return valueMs === null ? [] : [{ name, valueMs, x: x(valueMs) }];
  });
  return { x, y, bars, markers };
}

/** '< 1 ms', '20–50 ms', '≥ 60 s': a bin's range for labels and link titles. */
export function binLabel(lowerMs: number, upperMs: number | null): string {
  if (upperMs === null) return `≥ ${formatDuration(lowerMs)}`;
  if (lowerMs === 0) return `< ${formatDuration(upperMs)}`;
  return `${formatDuration(lowerMs)}–${formatDuration(upperMs)}`;
}

/** 0.5 ms, 20 ms, 1.5 s, 60 s. */
export function formatDuration(ms: number): string {
  if (ms >= 1000) return `${+(ms / 1000).toPrecision(3)} s`;
  return `${+ms.toPrecision(3)} ms`;
}

/** Ticks for a log duration axis: 1-2-5 steps (the API's bucket bounds), thinned to at most 6 labels. */
export function durationTicks([lo, hi]: [number, number]): number[] {
  const ticks: number[] = [];
  for (let decade = 0.001; decade <= hi; decade *= 10) for (const m of [1, 2, 5]) if (m * decade >= lo && m * decade <= hi) ticks.push(Math.round(m * decade * 1000) / 1000);
  const every = Math.ceil(ticks.length / 6);
  return ticks.filter((_, i) => i % every === 0);
}
