// RED over time (GET /api/v1/red) → chart geometry: time and value scales, bars for counts, lines for the
// latency percentiles (gaps where a slot had no calls), and the slot under a pointer. Pure: no DOM.
import { type ScaleLinear, type ScaleTime, scaleLinear, scaleTime } from 'd3-scale';
import { line } from 'd3-shape';

/** The answer of GET /api/v1/red: one entry per time slot of `step` seconds in every array. */
export interface RedSeries {
  times: number[];
  step: number;
  requests: number[];
  errors: number[];
  rps: number[];
  p50Ms: Array<number | null>;
  p95Ms: Array<number | null>;
  p99Ms: Array<number | null>;
}

export interface ChartBox {
  width: number;
  height: number;
  /** Room for the axes. */
  margin: { top: number; right: number; bottom: number; left: number };
}

/** One time slot of a chart: its window [start, end) and where it is drawn. */
export interface SlotBar {
  index: number;
  start: number;
  end: number;
  value: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface CountChart {
  x: ScaleTime<number, number>;
  y: ScaleLinear<number, number>;
  bars: SlotBar[];
}

export type Percentile = 'p50' | 'p95' | 'p99';

export interface LatencyChart {
  x: ScaleTime<number, number>;
  y: ScaleLinear<number, number>;
  /** SVG path data per percentile ('' when it has no point). */
  lines: Record<Percentile, string>;
  /** Every slot that has a value, per percentile: the points a pointer or the keyboard can pick. */
  points: Record<Percentile, Array<{ index: number; start: number; end: number; valueMs: number; x: number; y: number }>>;
}

/** Sums of a RED answer: the window's requests and errors (what the graph's node or edge shows). */
export function redTotals(red: RedSeries): { requests: number; errors: number; errorRate: number } {
  const requests = red.requests.reduce((sum, n) => sum + n, 0);
  const errors = red.errors.reduce((sum, n) => sum + n, 0);
  // The API rounds each slot to 4 decimals; the sum of rounded slots gets the same rounding.
  const round = (n: number) => Math.round(n * 1e4) / 1e4;
  return { requests: round(requests), errors: round(errors), errorRate: requests > 0 ? errors / requests : 0 };
}

/** The time axis: from the first slot's start to the last slot's end. */
export function timeScale(red: Pick<RedSeries, 'times' | 'step'>, box: ChartBox): ScaleTime<number, number> {
  const first = red.times[0] ?? 0;
  const last = (red.times[red.times.length - 1] ?? first) + red.step * 1000;
  return scaleTime().domain([new Date(first), new Date(last)]).range([box.margin.left, box.width - box.margin.right]);
}

function valueScale(max: number, box: ChartBox): ScaleLinear<number, number> {
  // A flat zero series still gets an axis from 0 to 1, not a degenerate one.
  return scaleLinear().domain([0, max > 0 ? max : 1]).nice(4).range([box.height - box.margin.bottom, box.margin.top]);
}

/** Bars for a count per slot (requests or errors), one per slot, 1 px apart when there is room. */
export function countChart(red: Pick<RedSeries, 'times' | 'step'>, values: readonly number[], box: ChartBox, maxValue?: number): CountChart {
  const x = timeScale(red, box);
  const y = valueScale(maxValue ?? Math.max(0, ...values), box);
  const stepMs = red.step * 1000;
  const bars = red.times.map((start, index) => {
    const value = values[index] ?? 0;
    const x0 = x(new Date(start));
    const x1 = x(new Date(start + stepMs));
    const gap = x1 - x0 > 3 ? 1 : 0;
    return { index, start, end: start + stepMs, value, x: x0, y: y(value), width: Math.max(0.5, x1 - x0 - gap), height: y(0) - y(value) };
  });
  return { x, y, bars };
}

/** p50/p95/p99 lines through the slots' middles; a slot without calls breaks the line. */
export function latencyChart(red: RedSeries, box: ChartBox): LatencyChart {
  const x = timeScale(red, box);
  const all = [...red.p50Ms, ...red.p95Ms, ...red.p99Ms].filter((v): v is number => v !== null);
  const y = valueScale(Math.max(0, ...all), box);
  const stepMs = red.step * 1000;
  const middle = (start: number) => x(new Date(start + stepMs / 2));
  const series: Record<Percentile, Array<number | null>> = { p50: red.p50Ms, p95: red.p95Ms, p99: red.p99Ms };
  const path = line<{ x: number; y: number } | null>()
    .defined((p) => p !== null)
    .x((p) => p!.x)
    .y((p) => p!.y);
  const lines = {} as Record<Percentile, string>;
  const points = {} as LatencyChart['points'];
  for (const name of ['p50', 'p95', 'p99'] as const) {
    const located = red.times.map((start, index) => {
      const valueMs = series[name][index];
      return valueMs === null || valueMs === undefined ? null : { index, start, end: start + stepMs, valueMs, x: middle(start), y: y(valueMs) };
    });
    lines[name] = path(located) ?? '';
    points[name] = located.filter((p) => p !== null);
  }
  return { x, y, lines, points };
}

/** The slot whose column holds screen x (for a pointer over a chart), or -1 outside the slots. */
export function slotAt(red: Pick<RedSeries, 'times' | 'step'>, x: ScaleTime<number, number>, px: number): number {
  const t = x.invert(px).getTime();
  const first = red.times[0];
  if (first === undefined) return -1;
  const index = Math.floor((t - first) / (red.step * 1000));
  return index >= 0 && index < red.times.length ? index : -1;
}

/** Slot length in seconds for a window's series: whole minutes (the API's rows), about `slots` of them. */
export function slotSeconds(window: { start: number; end: number }, slots = 30): number {
  return Math.max(60, Math.ceil((window.end - window.start) / 1000 / slots / 60) * 60);
}
