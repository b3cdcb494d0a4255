// Cumulative metric values → per-interval increases, shared by every metrics signal (Envoy metrics
// service, Prometheus scrape and remote-write, OTLP metrics with CUMULATIVE temporality). The rules are
// mesh-telemetry.md §8, the same as PromQL rate() and the OTel collector's cumulativetodelta:
//
//   - a series is identified by a string key the caller builds: source + name + full label set
//     (seriesKey() builds one);
//   - first observation = baseline, nothing emitted (a lifetime total is not traffic in this window),
//     unless its start time is after our own start: then the series began while we were listening and
//     the whole value is the increase;
//   - current < previous, or a changed start time ⇒ the counter restarted from 0: increase = current;
//   - no update for maxStalenessMs (by our clock, not the samples': a sender whose clock is off or whose
//     samples arrive late must not make other senders' series look stale) ⇒ state dropped, the next value
//     is a new baseline;
//   - at most maxSeries tracked; past it the least recently updated series is evicted (counted).
//
// Delta inputs (StatSD, OTLP DELTA, Envoy's per-flush histograms) are already increases and need no state:
// pass them on as they are (increaseOf() does that for callers handling both).
import type { PrometheusBucket } from '../service-graph/histogram.ts';
import { LatencyHistogram, foldPrometheusHistogram } from '../service-graph/histogram.ts';

export interface CumulativeOptions {
  /** Drop a series' state after this long without an update (ms, by `clock`). */
  maxStalenessMs: number;
  /** Bound on tracked series; the least recently updated is evicted past it. */
  maxSeries: number;
  /** Our own start (epoch ms): a series whose start time is after it counts whole on first sight. Default: now. */
  startedAtMs?: number;
  /** Now in epoch ms, for staleness; Date.now by default (tests pass their own). */
  clock?: () => number;
}

export const DEFAULT_CUMULATIVE_OPTIONS: Readonly<Pick<CumulativeOptions, 'maxStalenessMs' | 'maxSeries'>> = {
  maxStalenessMs: 5 * 60_000,
  maxSeries: 200_000,
};

/** What the tracker did with its inputs, for the receivers' own metrics and for tests. */
export interface CumulativeStats {
  /** First observations (and observations after staleness or eviction) stored as a baseline. */
  baselines: number;
  /** Restarts seen: a value below the previous, or a changed start time. */
  resets: number;
  /** Series dropped because maxSeries was reached. */
  evicted: number;
  /** Series dropped after maxStalenessMs without an update. */
  stale: number;
  /** Samples ignored: not a finite number ≥ 0, older than the stored one, or a histogram whose bounds changed. */
  ignored: number;
}

/** A series key from its parts; label order does not matter, and no name or value can forge another key. */
export function seriesKey(source: string, name: string, labels: Readonly<Record<string, string>> = {}): string {
  const parts = [source, name];
  for (const labelName of Object.keys(labels).sort()) parts.push(labelName, labels[labelName]!);
  return JSON.stringify(parts);
}

interface SeriesState<V> {
  value: V;
  /** The sample's own time: an older sample than this one is out of order. */
  atMs: number;
  startMs: number | undefined;
  /** When we stored it, by our clock: what staleness is measured from. */
  updatedAtMs: number;
}

/**
 * The bookkeeping both trackers share: per-key state kept in least-recently-updated order (a Map re-inserted
 * on every update), so staleness and eviction only ever look at the front.
 */
class SeriesTable<V> {
  private readonly series = new Map<string, SeriesState<V>>();
  readonly stats: CumulativeStats = { baselines: 0, resets: 0, evicted: 0, stale: 0, ignored: 0 };
  readonly maxStalenessMs: number;
  readonly maxSeries: number;
  readonly startedAtMs: number;
  private readonly clock: () => number;
  /** When dropStale() last looked. */
  private sweptAtMs = Number.NaN;

  constructor(options: Partial<CumulativeOptions>) {
    this.clock = options.clock ?? Date.now;
    this.maxStalenessMs = options.maxStalenessMs ?? DEFAULT_CUMULATIVE_OPTIONS.maxStalenessMs;
    this.maxSeries = options.maxSeries ?? DEFAULT_CUMULATIVE_OPTIONS.maxSeries;
    this.startedAtMs = options.startedAtMs ?? this.clock();
    if (!(this.maxStalenessMs > 0)) throw new RangeError(`maxStalenessMs ${this.maxStalenessMs} must be > 0`);
    if (!(Number.isInteger(this.maxSeries) && this.maxSeries > 0)) throw new RangeError(`maxSeries ${this.maxSeries} must be a positive integer`);
  }

  get size(): number {
    return this.series.size;
  }

  /** Whether `key` has live state (a caller bounding its series asks before adding one). */
  has(key: string): boolean {
    this.dropStale();
    return this.series.has(key);
  }

  /** The live previous state of `key`, after dropping what went stale. */
  previous(key: string): SeriesState<V> | undefined {
    this.dropStale();
    return this.series.get(key);
  }

  /** `previous`: the state previous() gave for this key, updated in place. */
  store(key: string, value: V, atMs: number, startMs: number | undefined, previous?: SeriesState<V>): void {
    this.series.delete(key);
    if (previous === undefined) {
      this.series.set(key, { value, atMs, startMs, updatedAtMs: this.clock() });
    } else {
      previous.value = value;
      previous.atMs = atMs;
      previous.startMs = startMs;
      previous.updatedAtMs = this.clock();
      this.series.set(key, previous);
    }
    while (this.series.size > this.maxSeries) {
      const oldest = this.series.keys().next().value as string;
      this.series.delete(oldest);
      this.stats.evicted++;
    }
  }

  /** First sight of a series: the whole value counts only when it started after we did. */
  startedWhileListening(startMs: number | undefined): boolean {
    return startMs !== undefined && startMs > this.startedAtMs;
  }

  /** Drops every series not updated within maxStalenessMs; the front of the map is the least recently updated. */
  dropStale(): void {
    const nowMs = this.clock();
    // Nothing can have gone stale since a look at this same instant (it is done for every sample).
    if (nowMs === this.sweptAtMs) return;
    this.sweptAtMs = nowMs;
    for (const [key, state] of this.series) {
      if (nowMs - state.updatedAtMs <= this.maxStalenessMs) break;
      this.series.delete(key);
      this.stats.stale++;
    }
  }
}

/** Cumulative counters (Prometheus counter, OTLP cumulative Sum, Envoy metrics-service COUNTER) → increases. */
export class CumulativeCounters {
  private readonly table: SeriesTable<number>;

  constructor(options: Partial<CumulativeOptions> = {}) {
    this.table = new SeriesTable(options);
  }

  get stats(): Readonly<CumulativeStats> {
    return this.table.stats;
  }

  /** Series tracked now. */
  get size(): number {
    return this.table.size;
  }

  /** Whether this series has state (not stale, not evicted). */
  has(key: string): boolean {
    return this.table.has(key);
  }

  /**
   * The increase since this series' previous value, or null when there is none to report (a baseline, or an
   * ignored sample). `atMs` is the sample's time (epoch ms); `startMs` its start time when the format has one
   * (OTLP startTimeUnixNano, OpenMetrics _created).
   */
  increase(key: string, value: number, atMs: number, startMs?: number): number | null {
    const table = this.table;
    if (!(value >= 0 && value < Infinity) || !Number.isFinite(atMs)) {
      table.stats.ignored++;
      return null;
    }
    const previous = table.previous(key);
    if (previous !== undefined && atMs < previous.atMs) {
      table.stats.ignored++;
      return null;
    }
    if (previous === undefined) {
      table.store(key, value, atMs, startMs);
      table.stats.baselines++;
      return table.startedWhileListening(startMs) ? value : null;
    }
    const restarted = value < previous.value || (startMs !== undefined && previous.startMs !== undefined && startMs !== previous.startMs);
    const increase = restarted ? value : value - previous.value;
    table.store(key, value, atMs, startMs, previous);
    if (restarted) table.stats.resets++;
    return increase;
  }

  /** Frees the state of series gone stale (it is also done on every sample); for a timer when input may stop. */
  dropStale(): void {
    this.table.dropStale();
  }
}

/** A histogram's increase over one interval: buckets in cumulative `le` form (ascending, ending at +Inf). */
export interface HistogramIncrease {
  buckets: PrometheusBucket[];
  sum: number;
  count: number;
}

interface HistogramState {
  buckets: PrometheusBucket[];
  sum: number;
  count: number;
}

/**
 * Cumulative histograms (Prometheus `_bucket`/`_sum`/`_count`, OTLP cumulative explicit-bucket histograms
 * after toCumulativeBuckets()) → per-interval increases. Bucket order in the input does not matter; a missing
 * `+Inf` bucket is taken to hold `count`. A restart is `count` falling, any bucket falling, or a changed start
 * time; a series whose bounds change starts over from a new baseline (its increases cannot be told apart).
 */
export class CumulativeHistograms {
  private readonly table: SeriesTable<HistogramState>;

  constructor(options: Partial<CumulativeOptions> = {}) {
    this.table = new SeriesTable(options);
  }

  get stats(): Readonly<CumulativeStats> {
    return this.table.stats;
  }

  get size(): number {
    return this.table.size;
  }

  /** Whether this series has state (not stale, not evicted). */
  has(key: string): boolean {
    return this.table.has(key);
  }

  increase(key: string, buckets: readonly PrometheusBucket[], sum: number, count: number, atMs: number, startMs?: number): HistogramIncrease | null {
    const table = this.table;
    const current = normaliseHistogram(buckets, sum, count);
    if (current === null || !Number.isFinite(atMs)) {
      table.stats.ignored++;
      return null;
    }
    const previous = table.previous(key);
    if (previous !== undefined && atMs < previous.atMs) {
      table.stats.ignored++;
      return null;
    }
    table.store(key, current, atMs, startMs);
    if (previous === undefined) {
      table.stats.baselines++;
      return table.startedWhileListening(startMs) ? copyHistogram(current) : null;
    }
    const before = previous.value;
    if (!sameBounds(before.buckets, current.buckets)) {
      table.stats.ignored++;
      table.stats.baselines++;
      return null;
    }
    const restarted =
      current.count < before.count ||
      current.buckets.some((bucket, i) => bucket.cumulativeCount < before.buckets[i]!.cumulativeCount) ||
      (startMs !== undefined && previous.startMs !== undefined && startMs !== previous.startMs);
    if (restarted) {
      table.stats.resets++;
      return copyHistogram(current);
    }
    return {
      buckets: current.buckets.map((bucket, i) => ({ le: bucket.le, cumulativeCount: bucket.cumulativeCount - before.buckets[i]!.cumulativeCount })),
      // A sum may fall with negative observations; latencies have none, so a falling sum is clamped at 0.
      sum: Math.max(0, current.sum - before.sum),
      count: current.count - before.count,
    };
  }

  /** Frees the state of series gone stale (it is also done on every sample); for a timer when input may stop. */
  dropStale(): void {
    this.table.dropStale();
  }
}

/** For callers that see both temporalities: a delta value is already the increase. */
export function increaseOf(counters: CumulativeCounters, temporality: 'cumulative' | 'delta', key: string, value: number, atMs: number, startMs?: number): number | null {
  if (temporality === 'delta') return value >= 0 && value < Infinity ? value : null;
  return counters.increase(key, value, atMs, startMs);
}

/**
 * OTLP explicit-bucket histograms carry per-bucket counts (N) and N−1 upper bounds (inclusive, like `le`):
 * this turns them into cumulative `le` buckets ending at +Inf.
 */
export function toCumulativeBuckets(explicitBounds: readonly number[], bucketCounts: readonly number[]): PrometheusBucket[] {
  const buckets: PrometheusBucket[] = [];
  let cumulative = 0;
  for (let i = 0; i < bucketCounts.length; i++) {
    cumulative += bucketCounts[i]!;
    buckets.push({ le: i < explicitBounds.length ? explicitBounds[i]! : Infinity, cumulativeCount: cumulative });
  }
  return buckets;
}

/** A histogram increase as latencies; `msPerUnit` converts its bounds (1 for ms, 1000 for seconds). */
export function increaseToLatency(increase: HistogramIncrease, msPerUnit: number, into?: LatencyHistogram): LatencyHistogram {
  return foldPrometheusHistogram(increase.buckets, msPerUnit, into ?? new LatencyHistogram());
}

/** Sorted by `le`, one bucket per bound, ending with +Inf (= count when absent); null when not a valid histogram. */
function normaliseHistogram(buckets: readonly PrometheusBucket[], sum: number, count: number): HistogramState | null {
  if (!(count >= 0 && count < Infinity) || !Number.isFinite(sum)) return null;
  const sorted: PrometheusBucket[] = [];
  for (const bucket of buckets) {
    if (Number.isNaN(bucket.le) || !(bucket.cumulativeCount >= 0 && bucket.cumulativeCount < Infinity)) return null;
    sorted.push({ le: bucket.le, cumulativeCount: bucket.cumulativeCount });
  }
  sorted.sort((a, b) => a.le - b.le);
  for (let i = 1; i < sorted.length; i++) if (sorted[i]!.le === sorted[i - 1]!.le) return null;
  if (sorted.at(-1)?.le !== Infinity) sorted.push({ le: Infinity, cumulativeCount: count });
  return { buckets: sorted, sum, count };
}

function sameBounds(a: readonly PrometheusBucket[], b: readonly PrometheusBucket[]): boolean {
  return a.length === b.length && a.every((bucket, i) => bucket.le === b[i]!.le);
}

function copyHistogram(histogram: HistogramState): HistogramIncrease {
  return { buckets: histogram.buckets.map((b) => ({ ...b })), sum: histogram.sum, count: histogram.count };
}
