// OTLP metrics (protobuf or OTLP/JSON) → one row per data point for the `metrics` table. Gauges and
// sums keep their value; histograms their bounds, per-bucket counts, sum and count; summaries their
// quantiles; exponential histograms are stored on explicit bounds (below). A point without a time or
// with bucket counts that do not match its bounds is refused (partial success, rejected_data_points).
import type { TraceLimits } from './traces.ts';
import {
  type OtlpResource,
  type OtlpScope,
  MAX_TIME_NS,
  MetricsRequest,
  attributeMap,
  countItem,
  cut,
  decodeProtoRequest,
  enumNumber,
  list,
  nanosText,
  num,
  parseJsonRequest,
  resourceIdentity,
  text,
  u64,
} from './signals.ts';

export type MetricType = 'gauge' | 'sum' | 'histogram' | 'exponential_histogram' | 'summary';

/** OTLP AggregationTemporality. */
export const Temporality = { Unspecified: 0, Delta: 1, Cumulative: 2 } as const;
export type Temporality = (typeof Temporality)[keyof typeof Temporality];
const TEMPORALITY_NAMES = ['unspecified', 'delta', 'cumulative'] as const;

export interface MetricPoint {
  timeUnixNano: bigint;
  /** 0 when the sender gave none. */
  startTimeUnixNano: bigint;
  name: string;
  type: MetricType;
  unit: string;
  temporality: Temporality;
  monotonic: boolean;
  attributes: Record<string, string>;
  resourceAttributes: Record<string, string>;
  service: string;
  namespace: string;
  scopeName: string;
  /** Gauge and sum points. */
  value: number;
  /** Histogram and summary points. */
  count: number;
  sum: number;
  /** Histogram upper bounds (N−1 for N buckets, upper bound inclusive) and per-bucket (not cumulative) counts. */
  bounds: number[];
  bucketCounts: number[];
  /** Summary quantiles and their values. */
  quantiles: number[];
  quantileValues: number[];
  /** OTLP DataPointFlags: bit 0 = no recorded value (a staleness marker). */
  flags: number;
}

export interface ConvertedMetrics {
  points: MetricPoint[];
  rejected: number;
  errorMessage: string;
}

/** Columns of `metrics` in the order encodeMetricRow writes them. */
export const METRIC_COLUMNS = [
  'ts', 'start_ts', 'name', 'type', 'unit', 'temporality', 'monotonic', 'attributes', 'resource_attributes',
  'service', 'namespace', 'scope_name', 'value', 'count', 'sum', 'bounds', 'bucket_counts', 'quantiles',
  'quantile_values', 'flags',
] as const;

interface RawPoint {
  attributes?: unknown;
  startTimeUnixNano?: unknown;
  timeUnixNano?: unknown;
  asDouble?: unknown;
  asInt?: unknown;
  count?: unknown;
  sum?: unknown;
  bucketCounts?: unknown;
  explicitBounds?: unknown;
  scale?: unknown;
  zeroCount?: unknown;
  positive?: { offset?: unknown; bucketCounts?: unknown } | null;
  negative?: { offset?: unknown; bucketCounts?: unknown } | null;
  quantileValues?: unknown;
  flags?: unknown;
}
interface RawData {
  dataPoints?: unknown;
  aggregationTemporality?: unknown;
  isMonotonic?: unknown;
}
interface RawMetric {
  name?: unknown;
  unit?: unknown;
  gauge?: RawData | null;
  sum?: RawData | null;
  histogram?: RawData | null;
  exponentialHistogram?: RawData | null;
  summary?: RawData | null;
}
interface RawScopeMetrics {
  scope?: OtlpScope | null;
  metrics?: unknown;
}
interface RawResourceMetrics {
  resource?: OtlpResource | null;
  scopeMetrics?: unknown;
  instrumentationLibraryMetrics?: unknown;
}

const TEMPORALITY_ENUM: Record<string, number> = {
  AGGREGATION_TEMPORALITY_UNSPECIFIED: 0, AGGREGATION_TEMPORALITY_DELTA: 1, AGGREGATION_TEMPORALITY_CUMULATIVE: 2,
};

export function convertMetricsProto(body: Uint8Array, limits: TraceLimits): ConvertedMetrics {
  return convertMetrics(decodeProtoRequest(MetricsRequest, body, 'ExportMetricsServiceRequest'), limits);
}

export function convertMetricsJson(body: string, limits: TraceLimits): ConvertedMetrics {
  return convertMetrics(parseJsonRequest(body, 'ExportMetricsServiceRequest'), limits);
}

function convertMetrics(request: Record<string, unknown>, limits: TraceLimits): ConvertedMetrics {
  const result: ConvertedMetrics = { points: [], rejected: 0, errorMessage: '' };
  const reject = (metric: string, problem: string) => {
    if (result.rejected === 0) result.errorMessage = `a data point of "${metric.slice(0, 100)}" has ${problem}`;
    result.rejected++;
  };
  const seen = { count: 0 };
  const max = limits.attributeValueLength;
  for (const rm of list<RawResourceMetrics>(request.resourceMetrics, 'resourceMetrics')) {
    const resourceAttributes = attributeMap(rm?.resource?.attributes, 'resource.attributes', max);
    const { service, namespace } = resourceIdentity(resourceAttributes);
    for (const sm of list<RawScopeMetrics>(rm.scopeMetrics ?? rm.instrumentationLibraryMetrics, 'scopeMetrics')) {
      const scopeName = text(sm?.scope?.name, 'scope.name');
      for (const m of list<RawMetric>(sm.metrics, 'metrics')) {
        const name = cut(text(m?.name, 'metric name'), max);
        const unit = cut(text(m.unit, 'unit'), max);
        const [type, data] = metricData(m);
        if (data === undefined) continue;
        const temporality = type === 'gauge' || type === 'summary' ? Temporality.Unspecified : temporalityOf(data.aggregationTemporality);
        // Histograms count events: monotonic by definition.
        const monotonic = type === 'sum' ? data.isMonotonic === true : type !== 'gauge';
        for (const p of list<RawPoint>(data.dataPoints, 'dataPoints')) {
          countItem(seen, limits.spansPerRequest, 'data points');
          const time = u64(p?.timeUnixNano);
          if (time === 0n || time >= MAX_TIME_NS) {
            reject(name, time === 0n ? 'no time_unix_nano' : 'a time_unix_nano past the year 2262');
            continue;
          }
          const start = u64(p.startTimeUnixNano);
          const point: MetricPoint = {
            timeUnixNano: time,
            startTimeUnixNano: start < MAX_TIME_NS ? start : 0n,
            name, type, unit, temporality, monotonic,
            attributes: attributeMap(p.attributes, 'attributes', max, limits.attributesPerSpan),
            resourceAttributes, service, namespace, scopeName,
            value: 0, count: 0, sum: 0, bounds: [], bucketCounts: [], quantiles: [], quantileValues: [],
            flags: Math.trunc(num(p.flags)) >>> 0,
          };
          const problem = fillValues(point, p);
          if (problem) reject(name, problem);
          else result.points.push(point);
        }
      }
    }
  }
  return result;
}

function metricData(m: RawMetric): [MetricType, RawData | undefined] {
  if (m.gauge) return ['gauge', m.gauge];
  if (m.sum) return ['sum', m.sum];
  if (m.histogram) return ['histogram', m.histogram];
  if (m.exponentialHistogram) return ['exponential_histogram', m.exponentialHistogram];
  if (m.summary) return ['summary', m.summary];
  return ['gauge', undefined];
}

function temporalityOf(value: unknown): Temporality {
  const n = enumNumber(value, TEMPORALITY_ENUM);
  return n === 1 || n === 2 ? n : Temporality.Unspecified;
}

function finite(n: number): number {
  return Number.isFinite(n) ? n : 0;
}

/** Fills the point's values from the raw point; returns a problem when the point is malformed. */
function fillValues(point: MetricPoint, p: RawPoint): string | undefined {
  switch (point.type) {
    case 'gauge':
    case 'sum':
      point.value = p.asInt !== undefined && p.asInt !== null ? num(p.asInt) : num(p.asDouble);
      if (Number.isNaN(point.value) && (point.flags & 1) === 0) return 'a value that is not a number';
      point.value = finite(point.value);
      return undefined;
    case 'histogram': {
      point.count = num(p.count);
      point.sum = finite(num(p.sum));
      point.bounds = list<unknown>(p.explicitBounds, 'explicitBounds').map(num);
      point.bucketCounts = list<unknown>(p.bucketCounts, 'bucketCounts').map(num);
      if (point.bucketCounts.length > 0 && point.bucketCounts.length !== point.bounds.length + 1) {
        return `${point.bucketCounts.length} bucket counts for ${point.bounds.length} explicit bounds (must be bounds + 1)`;
      }
      if (point.bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= point.bounds[i - 1]!))) return 'explicit bounds that are not finite and increasing';
      if (point.bucketCounts.some((c) => !Number.isInteger(c) || c < 0)) return 'a bucket count that is not a non-negative integer';
      return undefined;
    }
    case 'exponential_histogram':
      exponentialToExplicit(point, p);
      return undefined;
    case 'summary': {
      point.count = num(p.count);
      point.sum = finite(num(p.sum));
      for (const q of list<{ quantile?: unknown; value?: unknown }>(p.quantileValues, 'quantileValues')) {
        point.quantiles.push(finite(num(q?.quantile)));
        point.quantileValues.push(finite(num(q?.value)));
      }
      return undefined;
    }
  }
}

/**
 * An exponential histogram on explicit bounds, so that one bucket layout serves every histogram row:
 * the first bucket holds the negative and zero counts (≤ base^offset), then one bucket per positive
 * bucket, (base^i, base^(i+1)], each with its upper bound — the highest one too, so that latencies
 * there are not read as lying at its lower bound — and the open-ended bucket explicit bounds need, empty.
 */
function exponentialToExplicit(point: MetricPoint, p: RawPoint): void {
  point.count = num(p.count);
  point.sum = finite(num(p.sum));
  const scale = Math.trunc(num(p.scale));
  const base = 2 ** (2 ** -scale);
  const offset = Math.trunc(num(p.positive?.offset));
  const positive = list<unknown>(p.positive?.bucketCounts, 'positive.bucketCounts').map(num);
  const negative = list<unknown>(p.negative?.bucketCounts, 'negative.bucketCounts').map(num);
  const low = num(p.zeroCount) + negative.reduce((a, b) => a + b, 0);
  point.bounds = positive.length === 0 ? [] : [...positive.map((_, i) => base ** (offset + i)), base ** (offset + positive.length)];
  point.bucketCounts = positive.length === 0 ? [low] : [low, ...positive, 0];
}

/** One JSONCompactEachRow line (with its newline) in METRIC_COLUMNS order. */
export function encodeMetricRow(p: MetricPoint): string {
  return (
    JSON.stringify([
      nanosText(p.timeUnixNano), nanosText(p.startTimeUnixNano), p.name, p.type, p.unit, TEMPORALITY_NAMES[p.temporality],
      p.monotonic ? 1 : 0, p.attributes, p.resourceAttributes, p.service, p.namespace, p.scopeName,
      p.value, p.count, p.sum, p.bounds, p.bucketCounts, p.quantiles, p.quantileValues, p.flags,
    ]) + '\n'
  );
}
