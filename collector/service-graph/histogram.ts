// Mergeable latency histogram for the service-graph rollups (pure code, no I/O).
//
// Bucket scheme (global and fixed, so histograms from any minute, collector or signal merge by adding counts
// per bucket index — in memory with `merge`, in ClickHouse with `sumMap` over `Map(UInt16, Float64)`):
//   - log buckets in the DDSketch style: with relative accuracy α = 1%, γ = (1 + α) / (1 - α) and regular
//     bucket i (1 ≤ i ≤ REGULAR_BUCKET_COUNT) holding latencies in (MIN_MS·γ^(i-1), MIN_MS·γ^i];
//   - index 0 (underflow) holds everything ≤ MIN_MS = 1 µs, including 0 and negative (clock-skewed) values;
//   - index OVERFLOW_INDEX holds everything above the last regular bucket (≈ 61 minutes, just past 1 hour);
//   - 1,101 regular buckets, BUCKET_COUNT = 1,103 in all: a UInt16 index, and a typical edge touches a few
//     hundred of them (3 decades of latency ≈ 345 buckets), so its sparse form stays small.
// Any latency in a regular bucket is within α = 1% of the bucket's representative value, so every quantile is
// within 1% of the exact (nearest-rank) quantile — the contract allows 2%.
//
// Counts are float64 sums of sampling weights (a span sampled at 10% adds 10; OTel threshold sampling gives
// non-integer weights such as 1/0.3). With integer weights every count is exact up to 2^53 and merging is exact
// per bucket; with fractional weights merging is exact up to float rounding. Store them as Float64, not UInt64.

/** Relative accuracy α of every regular bucket. */
export const RELATIVE_ACCURACY = 0.01;
const GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
const LN_GAMMA = Math.log(GAMMA);
/** Upper bound of the underflow bucket: 1 µs. */
export const MIN_MS = 0.001;
/** The regular buckets reach at least this far: 1 hour. */
export const MAX_MS = 3_600_000;
export const REGULAR_BUCKET_COUNT = Math.ceil(Math.log(MAX_MS / MIN_MS) / LN_GAMMA);
export const UNDERFLOW_INDEX = 0;
export const OVERFLOW_INDEX = REGULAR_BUCKET_COUNT + 1;
/** Number of bucket indexes, 0 .. BUCKET_COUNT - 1. */
export const BUCKET_COUNT = REGULAR_BUCKET_COUNT + 2;
/** Names the scheme, so stored rows can say which one their indexes mean if it ever changes. */
export const HISTOGRAM_SCHEME = 'log-a0.01-1us-1h-v1';

const LN_MIN_MS = Math.log(MIN_MS);
const INV_LN_GAMMA = 1 / LN_GAMMA;

// Upper bound of every index (underflow: MIN_MS; overflow: +Infinity). bucketIndex corrects its log estimate
// against this table, so a value always lands in the bucket whose bounds contain it, even at exact boundaries.
const UPPER_MS = new Float64Array(BUCKET_COUNT);
// The value reported for a bucket: the harmonic mean of its bounds is within α of both ends.
const REPRESENTATIVE_MS = new Float64Array(BUCKET_COUNT);
for (let i = 0; i <= REGULAR_BUCKET_COUNT; i++) UPPER_MS[i] = MIN_MS * Math.exp(i * LN_GAMMA);
UPPER_MS[OVERFLOW_INDEX] = Infinity;
REPRESENTATIVE_MS[UNDERFLOW_INDEX] = MIN_MS;
for (let i = 1; i <= REGULAR_BUCKET_COUNT; i++) {
  const lower = UPPER_MS[i - 1]!;
  const upper = UPPER_MS[i]!;
  REPRESENTATIVE_MS[i] = (2 * lower * upper) / (lower + upper);
}
// Overflow has no upper bound: report its lower bound ("at least ≈ 61 min").
REPRESENTATIVE_MS[OVERFLOW_INDEX] = UPPER_MS[REGULAR_BUCKET_COUNT]!;
const LAST_REGULAR_UPPER_MS = UPPER_MS[REGULAR_BUCKET_COUNT]!;

/**
 * The bucket index of a latency in milliseconds: a pure function of the value, O(1), no allocation.
 * ≤ 1 µs (and negative) → UNDERFLOW_INDEX; above the last regular bucket → OVERFLOW_INDEX; NaN → UNDERFLOW_INDEX
 * (`LatencyHistogram.add` rejects NaN before getting here).
 */
export function bucketIndex(latencyMs: number): number {
  if (!(latencyMs > MIN_MS)) return UNDERFLOW_INDEX;
  if (latencyMs > LAST_REGULAR_UPPER_MS) return OVERFLOW_INDEX;
  let index = Math.ceil((Math.log(latencyMs) - LN_MIN_MS) * INV_LN_GAMMA);
  if (index < 1) index = 1;
  else if (index > REGULAR_BUCKET_COUNT) index = REGULAR_BUCKET_COUNT;
  // Math.log's last-bit rounding can put a value sitting on a boundary one bucket off.
  if (latencyMs <= UPPER_MS[index - 1]!) index--;
  else if (latencyMs > UPPER_MS[index]!) index++;
  return index;
}

/** The bucket index of a duration in nanoseconds (span durations are bigint ns). */
export function bucketIndexNs(durationNs: number | bigint): number {
  return bucketIndex(Number(durationNs) / 1e6);
}

export interface BucketBounds {
  /** Exclusive lower bound in ms (0 for the underflow bucket, which also takes 0 and negatives). */
  lowerMs: number;
  /** Inclusive upper bound in ms (Infinity for the overflow bucket). */
  upperMs: number;
}

export function bucketBounds(index: number): BucketBounds {
  assertIndex(index);
  return { lowerMs: index === UNDERFLOW_INDEX ? 0 : UPPER_MS[index - 1]!, upperMs: UPPER_MS[index]! };
}

/** The value quantiles report for a bucket: within α of anything in a regular bucket. */
export function bucketValueMs(index: number): number {
  assertIndex(index);
  return REPRESENTATIVE_MS[index]!;
}

function assertIndex(index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= BUCKET_COUNT) {
    throw new RangeError(`histogram bucket index ${index} is outside 0..${BUCKET_COUNT - 1}`);
  }
}

/** Storage form: parallel arrays, indexes ascending, only non-zero counts. */
export interface SparseHistogram {
  indexes: number[];
  counts: number[];
}

/**
 * Quantiles (each 0 ≤ q ≤ 1, ascending) in ms of a histogram in storage form (as ClickHouse returns it), null
 * when it is empty: the rule and the arithmetic of LatencyHistogram.quantile (nonzero counts summed in index
 * order; the first bucket whose running count reaches q × total), in one pass and without building a
 * LatencyHistogram — the service graph reads thousands of merged histograms per request. Counts may be negative
 * in part (the storage pass takes counts back): only the running sum matters. Throws RangeError on indexes
 * outside the scheme or not ascending.
 */
export function sparseQuantiles(histogram: SparseHistogram, qs: readonly number[]): Array<number | null> {
  for (let j = 0; j < qs.length; j++) {
    const q = qs[j]!;
    if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile ${q} is outside 0..1`);
    if (j > 0 && !(q >= qs[j - 1]!)) throw new RangeError('quantiles must be ascending');
  }
  assertSparse(histogram);
  const { indexes, counts } = histogram;
  let total = 0;
  for (let i = 0; i < counts.length; i++) {
    const count = counts[i]!;
    if (count !== 0) total += count;
  }
  if (!(total > 0)) return qs.map(() => null);
  const values: number[] = [];
  let cumulative = 0;
  let lastNonEmpty = UNDERFLOW_INDEX;
  for (let i = 0; i < indexes.length && values.length < qs.length; i++) {
    const count = counts[i]!;
    if (count === 0) continue;
    cumulative += count;
    lastNonEmpty = indexes[i]!;
    while (values.length < qs.length && cumulative >= qs[values.length]! * total) values.push(REPRESENTATIVE_MS[lastNonEmpty]!);
  }
  // Only float rounding of fractional weights leaves the running count a hair below q × total at q = 1.
  while (values.length < qs.length) values.push(REPRESENTATIVE_MS[lastNonEmpty]!);
  return values;
}

// Scratch space for mergeSparse: one dense row of counts, and which of its buckets are in use.
const MERGE_COUNTS = new Float64Array(BUCKET_COUNT);
const MERGE_USED = new Uint8Array(BUCKET_COUNT);

/**
 * Histograms in storage form added bucket by bucket, in the order given (the sums LatencyHistogram.merge would
 * make), in storage form again: indexes ascending. Buckets that add up to 0 are kept (with count 0).
 */
export function mergeSparse(histograms: readonly SparseHistogram[]): SparseHistogram {
  for (const histogram of histograms) assertSparse(histogram);
  let lowest = BUCKET_COUNT;
  let highest = -1;
  for (const { indexes, counts } of histograms) {
    for (let i = 0; i < indexes.length; i++) {
      const index = indexes[i]!;
      MERGE_USED[index] = 1;
      MERGE_COUNTS[index]! += counts[i]!;
    }
    if (indexes.length > 0) {
      lowest = Math.min(lowest, indexes[0]!);
      highest = Math.max(highest, indexes[indexes.length - 1]!);
    }
  }
  // Reading the used range back in order sorts the indexes, and clears the scratch space for the next merge.
  const merged: SparseHistogram = { indexes: [], counts: [] };
  for (let index = lowest; index <= highest; index++) {
    if (MERGE_USED[index] === 0) continue;
    merged.indexes.push(index);
    merged.counts.push(MERGE_COUNTS[index]!);
    MERGE_USED[index] = 0;
    MERGE_COUNTS[index] = 0;
  }
  return merged;
}

function assertSparse({ indexes, counts }: SparseHistogram): void {
  if (indexes.length !== counts.length) throw new RangeError(`sparse histogram has ${indexes.length} indexes but ${counts.length} counts`);
  let previous = -1;
  for (const index of indexes) {
    if (!Number.isInteger(index) || index <= previous || index >= BUCKET_COUNT) {
      throw new RangeError(`sparse histogram index ${index} is outside 0..${BUCKET_COUNT - 1} or not ascending`);
    }
    previous = index;
  }
}

/** One bucket of the contract's `/api/v1/latency` response: a per-bucket (not cumulative) count. */
export interface ApiLatencyBucket {
  /** Upper bound in ms; null for the last bucket (+Inf). */
  leMs: number | null;
  count: number;
}

/** The contract's `/api/v1/latency` body. Percentiles are null when the histogram is empty. */
export interface LatencySummary {
  count: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  buckets: ApiLatencyBucket[];
}

/** Readable display bounds (ms) for `toApiBuckets`, followed by a final +Inf bucket. */
export const DEFAULT_DISPLAY_BOUNDS_MS: readonly number[] = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000,
];

// Buckets are kept in lazily allocated chunks: a histogram only pays for the latency ranges it has seen, and
// add() allocates only the first time a range is touched.
const CHUNK_BITS = 5;
const CHUNK_SIZE = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK_SIZE - 1;
const CHUNK_COUNT = Math.ceil(BUCKET_COUNT / CHUNK_SIZE);

export class LatencyHistogram {
  private readonly chunks: (Float64Array | undefined)[] = new Array<Float64Array | undefined>(CHUNK_COUNT);
  private cachedCount = 0;
  private countIsStale = false;

  /**
   * Adds a latency in ms with a sampling weight (finite, ≥ 0; 10 for a span sampled at 10%). O(1); allocates
   * nothing once the value's range has been seen. Throws RangeError for NaN latency or a bad weight: those are
   * bugs in the caller, and a silently wrong histogram would be worse.
   */
  add(latencyMs: number, weight = 1): void {
    if (latencyMs !== latencyMs) throw new RangeError('latency is NaN');
    if (!(weight >= 0 && weight < Infinity)) throw new RangeError(`histogram weight ${weight} is not a finite number ≥ 0`);
    this.addToBucket(bucketIndex(latencyMs), weight);
  }

  /** Adds a duration in nanoseconds (span end - start). */
  addNs(durationNs: number | bigint, weight = 1): void {
    this.add(Number(durationNs) / 1e6, weight);
  }

  /** Adds every count of `other` into this histogram (exact per bucket for integer weights). Returns this. */
  merge(other: LatencyHistogram): this {
    for (let c = 0; c < CHUNK_COUNT; c++) {
      const source = other.chunks[c];
      if (source === undefined) continue;
      const target = this.chunks[c] ?? this.allocateChunk(c);
      for (let j = 0; j < CHUNK_SIZE; j++) target[j]! += source[j]!;
    }
    this.countIsStale = true;
    return this;
  }

  /** Total weight: the sum of the bucket counts, summed in index order so equal buckets give an equal count. */
  get count(): number {
    if (this.countIsStale) {
      let total = 0;
      this.forEachBucket((_, count) => {
        total += count;
      });
      this.cachedCount = total;
      this.countIsStale = false;
    }
    return this.cachedCount;
  }

  /** The count in one bucket. */
  bucketCount(index: number): number {
    assertIndex(index);
    return this.chunks[index >>> CHUNK_BITS]?.[index & CHUNK_MASK] ?? 0;
  }

  /** Calls `visit` for each non-empty bucket, indexes ascending. */
  forEachBucket(visit: (index: number, count: number) => void): void {
    for (let c = 0; c < CHUNK_COUNT; c++) {
      const chunk = this.chunks[c];
      if (chunk === undefined) continue;
      for (let j = 0; j < CHUNK_SIZE; j++) {
        const count = chunk[j]!;
        if (count !== 0) visit((c << CHUNK_BITS) | j, count);
      }
    }
  }

  /**
   * The q-quantile (0 ≤ q ≤ 1) in ms, null when empty: the representative value of the bucket holding the
   * nearest-rank element (the first bucket whose cumulative count reaches q·count), so within 1% of the exact
   * value for anything between 1 µs and 1 hour. Underflow reports 1 µs; overflow reports ≈ 61 min ("at least").
   */
  quantile(q: number): number | null {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile ${q} is outside 0..1`);
    const total = this.count;
    if (!(total > 0)) return null;
    const rank = q * total;
    let cumulative = 0;
    let lastNonEmpty = UNDERFLOW_INDEX;
    for (let c = 0; c < CHUNK_COUNT; c++) {
      const chunk = this.chunks[c];
      if (chunk === undefined) continue;
      for (let j = 0; j < CHUNK_SIZE; j++) {
        const count = chunk[j]!;
        if (count === 0) continue;
        const index = (c << CHUNK_BITS) | j;
        cumulative += count;
        lastNonEmpty = index;
        if (cumulative >= rank) return REPRESENTATIVE_MS[index]!;
      }
    }
    // Only reachable through float rounding of fractional weights (cumulative a hair below q·count at q = 1).
    return REPRESENTATIVE_MS[lastNonEmpty]!;
  }

  toSparse(): SparseHistogram {
    const indexes: number[] = [];
    const counts: number[] = [];
    this.forEachBucket((index, count) => {
      indexes.push(index);
      counts.push(count);
    });
    return { indexes, counts };
  }

  /** `{ index: count }`: the JSON shape of a ClickHouse `Map(UInt16, Float64)`. */
  toRecord(): Record<number, number> {
    const record: Record<number, number> = {};
    this.forEachBucket((index, count) => {
      record[index] = count;
    });
    return record;
  }

  /**
   * Reads the storage form back: parallel arrays or a `{ index: count }` record (ClickHouse returns Map keys as
   * strings). Throws RangeError on an index outside the scheme or a count that is not finite and ≥ 0 — a row
   * written by another scheme must not be read as this one.
   */
  static fromSparse(stored: SparseHistogram | Readonly<Record<string, number>>): LatencyHistogram {
    const histogram = new LatencyHistogram();
    if (isSparseArrays(stored)) {
      if (stored.indexes.length !== stored.counts.length) {
        throw new RangeError(`sparse histogram has ${stored.indexes.length} indexes but ${stored.counts.length} counts`);
      }
      for (let i = 0; i < stored.indexes.length; i++) histogram.addStored(stored.indexes[i]!, stored.counts[i]!);
    } else {
      for (const [key, count] of Object.entries(stored)) {
        if (!/^\d+$/.test(key)) throw new RangeError(`histogram bucket index "${key}" is not an integer`);
        histogram.addStored(Number(key), count);
      }
    }
    return histogram;
  }

  /**
   * The contract's per-bucket counts re-bucketed onto readable bounds (ms, strictly increasing), plus a final
   * `leMs: null` bucket. A fine bucket that straddles a display bound is counted below it (it goes to the first
   * display bucket above its lower edge), so Prometheus bounds equal to display bounds stay in place. Counts are
   * integers — fractional weights are rounded by largest remainder — and sum to Math.round(count).
   */
  toApiBuckets(boundsMs: readonly number[] = DEFAULT_DISPLAY_BOUNDS_MS): ApiLatencyBucket[] {
    assertDisplayBounds(boundsMs);
    const raw = new Array<number>(boundsMs.length + 1).fill(0);
    let display = 0;
    this.forEachBucket((index, count) => {
      const lowerMs = index === UNDERFLOW_INDEX ? 0 : UPPER_MS[index - 1]!;
      // Fine buckets come in ascending order, so the display cursor only moves forward.
      while (display < boundsMs.length && lowerMs >= boundsMs[display]!) display++;
      raw[display]! += count;
    });
    const counts = roundPreservingTotal(raw);
    return counts.map((count, i) => ({ leMs: i < boundsMs.length ? boundsMs[i]! : null, count }));
  }

  /** The whole `/api/v1/latency` body; p50..p99 come from the fine buckets, rounded to the µs. */
  toLatencySummary(boundsMs: readonly number[] = DEFAULT_DISPLAY_BOUNDS_MS): LatencySummary {
    const buckets = this.toApiBuckets(boundsMs);
    let count = 0;
    for (const bucket of buckets) count += bucket.count;
    return {
      count,
      p50Ms: roundToMicros(this.quantile(0.5)),
      p90Ms: roundToMicros(this.quantile(0.9)),
      p95Ms: roundToMicros(this.quantile(0.95)),
      p99Ms: roundToMicros(this.quantile(0.99)),
      buckets,
    };
  }

  private addToBucket(index: number, weight: number): void {
    const chunk = this.chunks[index >>> CHUNK_BITS] ?? this.allocateChunk(index >>> CHUNK_BITS);
    chunk[index & CHUNK_MASK]! += weight;
    this.countIsStale = true;
  }

  private addStored(index: number, count: number): void {
    assertIndex(index);
    if (!(count >= 0 && count < Infinity)) throw new RangeError(`histogram bucket ${index} has count ${count}`);
    this.addToBucket(index, count);
  }

  private allocateChunk(chunkIndex: number): Float64Array {
    const chunk = new Float64Array(CHUNK_SIZE);
    this.chunks[chunkIndex] = chunk;
    return chunk;
  }
}

/** One bucket of a Prometheus-style histogram: cumulative count of observations ≤ `le` (in the source unit). */
export interface PrometheusBucket {
  /** Upper bound in the source unit; Infinity for `+Inf`. */
  le: number;
  cumulativeCount: number;
}

/**
 * Folds a Prometheus-style histogram (cumulative `le` buckets, e.g. Envoy/Istio in ms: msPerUnit = 1; Traefik
 * in seconds: msPerUnit = 1000) into `into` (a new histogram by default) and returns it.
 * Bucket precision only: each source bucket's count goes to the fine bucket containing its upper bound, so
 * quantiles land on source bounds (within 1%), inside the bucket PromQL's histogram_quantile picks. The `+Inf`
 * bucket's count goes to the last finite bound, as histogram_quantile reports it (to overflow when there is no
 * finite bound). Cumulative counts that dip (racing scrapes) are treated as flat, as histogram_quantile does.
 * Counts may be fractional (rates, increases).
 */
export function foldPrometheusHistogram(
  buckets: readonly PrometheusBucket[],
  msPerUnit: number,
  into: LatencyHistogram = new LatencyHistogram(),
): LatencyHistogram {
  if (!(msPerUnit > 0 && msPerUnit < Infinity)) throw new RangeError(`msPerUnit ${msPerUnit} is not a positive number`);
  for (const bucket of buckets) {
    if (Number.isNaN(bucket.le)) throw new RangeError('prometheus bucket bound is NaN');
    if (!(bucket.cumulativeCount >= 0 && bucket.cumulativeCount < Infinity)) {
      throw new RangeError(`prometheus bucket le=${bucket.le} has count ${bucket.cumulativeCount}`);
    }
  }
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  let previousCumulative = 0;
  let lastFiniteMs: number | undefined;
  for (const { le, cumulativeCount } of sorted) {
    const increase = cumulativeCount - previousCumulative;
    previousCumulative = Math.max(previousCumulative, cumulativeCount);
    if (le !== Infinity) lastFiniteMs = le * msPerUnit;
    if (!(increase > 0)) continue;
    into.add(le === Infinity ? (lastFiniteMs ?? Infinity) : le * msPerUnit, increase);
  }
  return into;
}

function isSparseArrays(stored: SparseHistogram | Readonly<Record<string, number>>): stored is SparseHistogram {
  return Array.isArray((stored as Partial<SparseHistogram>).indexes);
}

function assertDisplayBounds(boundsMs: readonly number[]): void {
  for (let i = 0; i < boundsMs.length; i++) {
    const bound = boundsMs[i]!;
    if (!(bound > 0 && bound < Infinity)) throw new RangeError(`display bound ${bound} is not a positive finite number`);
    if (i > 0 && !(bound > boundsMs[i - 1]!)) throw new RangeError('display bounds must be strictly increasing');
  }
}

/** Rounds each value to an integer so that they sum to Math.round(sum of values) (largest remainder). */
function roundPreservingTotal(values: readonly number[]): number[] {
  let sum = 0;
  let floorSum = 0;
  const rounded = values.map((value) => {
    sum += value;
    const floor = Math.floor(value);
    floorSum += floor;
    return floor;
  });
  let missing = Math.round(sum) - floorSum;
  if (missing <= 0) return rounded;
  const byRemainder = values.map((value, i) => ({ i, remainder: value - Math.floor(value) }));
  byRemainder.sort((a, b) => b.remainder - a.remainder || a.i - b.i);
  for (const { i } of byRemainder) {
    if (missing === 0) break;
    rounded[i]!++;
    missing--;
  }
  return rounded;
}

function roundToMicros(valueMs: number | null): number | null {
  return valueMs === null ? null : Math.round(valueMs * 1000) / 1000;
}
