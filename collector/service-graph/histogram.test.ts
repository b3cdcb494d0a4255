// The latency histogram on its own: the bucket scheme, quantile accuracy against exact quantiles of seeded
// random distributions, exact merging, the storage round trip, weights, the contract's API buckets and the
// folding of Prometheus-style cumulative histograms.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BUCKET_COUNT,
  DEFAULT_DISPLAY_BOUNDS_MS,
  LatencyHistogram,
  MAX_MS,
  MIN_MS,
  OVERFLOW_INDEX,
  REGULAR_BUCKET_COUNT,
  RELATIVE_ACCURACY,
  UNDERFLOW_INDEX,
  bucketBounds,
  bucketIndex,
  bucketIndexNs,
  bucketValueMs,
  foldPrometheusHistogram,
} from './histogram.ts';
import { seededRandom } from '../../test/helpers/random.ts';


function standardNormal(random: () => number): number {
  // Box–Muller; 1 - random() avoids log(0).
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

const SAMPLES = 20_000;

const distributions: Record<string, (random: () => number) => number> = {
  'uniform 0.5..500 ms': (r) => 0.5 + r() * 499.5,
  'log-normal (median 20 ms, σ 1)': (r) => 20 * Math.exp(standardNormal(r)),
  'bimodal (70% ~5 ms, 30% ~200 ms)': (r) =>
    r() < 0.7 ? Math.max(0.01, 5 + standardNormal(r)) : Math.max(0.01, 200 + 20 * standardNormal(r)),
  'exponential (mean 30 ms)': (r) => -30 * Math.log(1 - r()),
  'Pareto (x_m 2 ms, shape 1.2)': (r) => 2 / Math.pow(1 - r(), 1 / 1.2),
  'constant 42 ms': () => 42,
  'tiny (2 µs..0.9 ms)': (r) => 0.002 + r() * 0.898,
  'huge (1..50 minutes)': (r) => 60_000 + r() * 49 * 60_000,
};

function draw(name: string, seed: number, n = SAMPLES): number[] {
  const generate = distributions[name]!;
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => generate(random));
}

function histogramOf(values: readonly number[]): LatencyHistogram {
  const histogram = new LatencyHistogram();
  for (const value of values) histogram.add(value);
  return histogram;
}

/** Nearest-rank quantile: the element the histogram's quantile definition targets. */
function nearestRank(sorted: readonly number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

/** Linearly interpolated quantile (numpy's default): a second, independent notion of "exact". */
function interpolated(sorted: readonly number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lower = Math.floor(h);
  const upper = Math.min(sorted.length - 1, lower + 1);
  return sorted[lower]! + (h - lower) * (sorted[upper]! - sorted[lower]!);
}

const QUANTILES = [0.5, 0.9, 0.95, 0.99];

describe('bucket scheme', () => {
  it('has a documented, UInt16-sized number of buckets covering 1 µs .. 1 hour', () => {
    assert.equal(REGULAR_BUCKET_COUNT, 1101);
    assert.equal(BUCKET_COUNT, 1103);
    assert.equal(OVERFLOW_INDEX, BUCKET_COUNT - 1);
    assert.ok(BUCKET_COUNT <= 65_536);
    assert.deepEqual(bucketBounds(UNDERFLOW_INDEX), { lowerMs: 0, upperMs: MIN_MS });
    assert.ok(bucketBounds(REGULAR_BUCKET_COUNT).upperMs >= MAX_MS);
    assert.ok(bucketBounds(REGULAR_BUCKET_COUNT).lowerMs < MAX_MS);
    assert.equal(bucketBounds(OVERFLOW_INDEX).upperMs, Infinity);
  });

  it('puts 0, negatives and ≤ 1 µs in underflow, > last regular bound in overflow, 1 hour in a regular bucket', () => {
    for (const value of [0, -5, -Infinity, MIN_MS / 2, MIN_MS]) assert.equal(bucketIndex(value), UNDERFLOW_INDEX);
    assert.equal(bucketIndex(MIN_MS * 1.001), 1);
    assert.equal(bucketIndex(MAX_MS), REGULAR_BUCKET_COUNT);
    const lastUpper = bucketBounds(REGULAR_BUCKET_COUNT).upperMs;
    assert.equal(bucketIndex(lastUpper), REGULAR_BUCKET_COUNT);
    for (const value of [lastUpper * 1.0001, 86_400_000, Infinity]) assert.equal(bucketIndex(value), OVERFLOW_INDEX);
  });

  it('is consistent at every boundary: an upper bound is in its bucket, the next double above is in the next', () => {
    for (let index = 0; index <= REGULAR_BUCKET_COUNT; index++) {
      const { upperMs } = bucketBounds(index);
      assert.equal(bucketIndex(upperMs), index, `upper bound of ${index}`);
      const justAbove = upperMs + upperMs * Number.EPSILON;
      assert.equal(bucketIndex(justAbove), index + 1, `just above the upper bound of ${index}`);
      if (index > 0) assert.equal(bucketBounds(index).lowerMs, bucketBounds(index - 1).upperMs);
    }
  });

  it('contains random values in their bucket, and each bucket value is within α of both bounds', () => {
    const random = seededRandom(7);
    for (let i = 0; i < 100_000; i++) {
      const value = MIN_MS * Math.pow(10, random() * 10); // 1 µs .. ~2.8 hours, log-uniform
      const index = bucketIndex(value);
      const { lowerMs, upperMs } = bucketBounds(index);
      assert.ok(lowerMs < value && value <= upperMs, `${value} in bucket ${index} (${lowerMs}, ${upperMs}]`);
    }
    for (let index = 1; index <= REGULAR_BUCKET_COUNT; index++) {
      const { lowerMs, upperMs } = bucketBounds(index);
      const value = bucketValueMs(index);
      assert.ok((value - lowerMs) / lowerMs <= RELATIVE_ACCURACY * (1 + 1e-9));
      assert.ok((upperMs - value) / upperMs <= RELATIVE_ACCURACY * (1 + 1e-9));
    }
  });

  it('indexes nanosecond durations like their millisecond value', () => {
    assert.equal(bucketIndexNs(1_500_000n), bucketIndex(1.5));
    assert.equal(bucketIndexNs(250), bucketIndex(0.00025));
  });

  it('rejects indexes outside the scheme', () => {
    assert.throws(() => bucketBounds(BUCKET_COUNT), RangeError);
    assert.throws(() => bucketBounds(-1), RangeError);
    assert.throws(() => bucketValueMs(1.5), RangeError);
  });
});

describe('quantile accuracy against exact quantiles', () => {
  let seed = 1000;
  for (const name of Object.keys(distributions)) {
    const distributionSeed = seed++;
    it(name, () => {
      const values = draw(name, distributionSeed);
      const histogram = histogramOf(values);
      const sorted = [...values].sort((a, b) => a - b);
      assert.equal(histogram.count, values.length);
      for (const q of QUANTILES) {
        const estimate = histogram.quantile(q);
        assert.ok(estimate !== null);
        // Design guarantee: within α = 1% of the nearest-rank element.
        const rankExact = nearestRank(sorted, q);
        const rankError = Math.abs(estimate - rankExact) / rankExact;
        assert.ok(rankError <= RELATIVE_ACCURACY * (1 + 1e-9), `p${q * 100}: ${estimate} vs ${rankExact} (${rankError})`);
        // Contract: within 2% (or 1 ms) of the interpolated exact quantile.
        const exact = interpolated(sorted, q);
        const allowed = Math.max(0.02 * exact, exact < 50 ? 1 : 0);
        assert.ok(Math.abs(estimate - exact) <= allowed, `p${q * 100}: ${estimate} vs interpolated ${exact}`);
      }
    });
  }

  it('reports the extremes: q = 0 is the smallest bucket, q = 1 the largest', () => {
    const histogram = histogramOf([3, 10, 700]);
    assert.equal(histogram.quantile(0), bucketValueMs(bucketIndex(3)));
    assert.equal(histogram.quantile(1), bucketValueMs(bucketIndex(700)));
  });

  it('reports underflow as 1 µs and overflow as its lower bound (≈ 61 min)', () => {
    const histogram = histogramOf([0, 0, 0, 2 * MAX_MS]);
    assert.equal(histogram.quantile(0.5), MIN_MS);
    assert.equal(histogram.quantile(1), bucketBounds(OVERFLOW_INDEX).lowerMs);
  });

  it('returns null when empty and rejects q outside 0..1', () => {
    const histogram = new LatencyHistogram();
    assert.equal(histogram.quantile(0.5), null);
    assert.equal(histogram.count, 0);
    assert.throws(() => histogram.quantile(1.5), RangeError);
    assert.throws(() => histogram.quantile(Number.NaN), RangeError);
  });
});

describe('merge', () => {
  it('equals, per bucket, the histogram of the concatenated data (minutes and collectors merged)', () => {
    const parts = [
      draw('log-normal (median 20 ms, σ 1)', 1),
      draw('bimodal (70% ~5 ms, 30% ~200 ms)', 2, 5000),
      draw('Pareto (x_m 2 ms, shape 1.2)', 3, 3000),
      draw('tiny (2 µs..0.9 ms)', 4, 500),
    ];
    const merged = new LatencyHistogram();
    for (const part of parts) merged.merge(histogramOf(part));
    const whole = histogramOf(parts.flat());
    assert.deepEqual(merged.toSparse(), whole.toSparse());
    assert.equal(merged.count, whole.count);
    for (const q of QUANTILES) assert.equal(merged.quantile(q), whole.quantile(q));
  });

  it('does not depend on merge order and leaves the merged-in histogram unchanged', () => {
    const a = histogramOf(draw('exponential (mean 30 ms)', 5, 2000));
    const b = histogramOf(draw('uniform 0.5..500 ms', 6, 2000));
    const bBefore = b.toSparse();
    const ab = new LatencyHistogram().merge(a).merge(b);
    const ba = new LatencyHistogram().merge(b).merge(a);
    assert.deepEqual(ab.toSparse(), ba.toSparse());
    assert.deepEqual(b.toSparse(), bBefore);
    assert.equal(ab.count, 4000);
  });
});

describe('storage form', () => {
  it('round-trips through sparse arrays and JSON exactly', () => {
    const histogram = histogramOf(draw('log-normal (median 20 ms, σ 1)', 11));
    histogram.add(0.5, 1 / 3); // a fractional weight must survive bit for bit
    const sparse = histogram.toSparse();
    assert.ok(sparse.indexes.every((index, i) => i === 0 || index > sparse.indexes[i - 1]!), 'ascending indexes');
    assert.ok(sparse.counts.every((count) => count > 0), 'only non-empty buckets');
    const restored = LatencyHistogram.fromSparse(JSON.parse(JSON.stringify(sparse)) as typeof sparse);
    assert.deepEqual(restored.toSparse(), sparse);
    assert.equal(restored.count, histogram.count);
    for (const q of QUANTILES) assert.equal(restored.quantile(q), histogram.quantile(q));
  });

  it('round-trips through a { index: count } record (ClickHouse Map JSON, string keys)', () => {
    const histogram = histogramOf([0, 1, 1, 5, 5, 5, 2 * MAX_MS]);
    const record = JSON.parse(JSON.stringify(histogram.toRecord())) as Record<string, number>;
    assert.deepEqual(Object.keys(record).map(Number), [UNDERFLOW_INDEX, bucketIndex(1), bucketIndex(5), OVERFLOW_INDEX]);
    assert.deepEqual(LatencyHistogram.fromSparse(record).toSparse(), histogram.toSparse());
  });

  it('rejects stored data that does not fit the scheme', () => {
    assert.throws(() => LatencyHistogram.fromSparse({ indexes: [BUCKET_COUNT], counts: [1] }), RangeError);
    assert.throws(() => LatencyHistogram.fromSparse({ indexes: [3], counts: [-1] }), RangeError);
    assert.throws(() => LatencyHistogram.fromSparse({ indexes: [3, 4], counts: [1] }), RangeError);
    assert.throws(() => LatencyHistogram.fromSparse({ '2.5': 1 }), RangeError);
    assert.throws(() => LatencyHistogram.fromSparse({ '7': Number.NaN }), RangeError);
  });
});

describe('weights', () => {
  it('counts a value added with weight 10 as ten values', () => {
    const weighted = new LatencyHistogram();
    weighted.add(7, 10);
    const repeated = histogramOf(Array.from({ length: 10 }, () => 7));
    assert.deepEqual(weighted.toSparse(), repeated.toSparse());
    assert.equal(weighted.count, 10);
  });

  it('weights quantiles: one request at 1000 ms among 99 weighted at 1 ms', () => {
    const histogram = new LatencyHistogram();
    histogram.add(1, 99);
    histogram.add(1000);
    assert.ok(Math.abs(histogram.quantile(0.99)! - 1) <= 0.01);
    assert.ok(Math.abs(histogram.quantile(0.995)! - 1000) <= 10);
  });

  it('matches the expanded data for random integer weights', () => {
    const random = seededRandom(21);
    const weighted = new LatencyHistogram();
    const expanded: number[] = [];
    for (const value of draw('log-normal (median 20 ms, σ 1)', 22, 3000)) {
      const weight = [1, 2, 5, 10][Math.floor(random() * 4)]!;
      weighted.add(value, weight);
      for (let i = 0; i < weight; i++) expanded.push(value);
    }
    assert.deepEqual(weighted.toSparse(), histogramOf(expanded).toSparse());
  });

  it('keeps fractional weights (threshold sampling) as fractional counts', () => {
    const histogram = new LatencyHistogram();
    for (let i = 0; i < 4; i++) histogram.add(3, 2.5);
    assert.equal(histogram.count, 10);
    histogram.add(3, 1 / 3);
    assert.ok(Math.abs(histogram.count - 10.333333333333334) < 1e-12);
  });

  it('adds nanosecond durations', () => {
    const histogram = new LatencyHistogram();
    histogram.addNs(2_000_000n, 3);
    assert.equal(histogram.bucketCount(bucketIndex(2)), 3);
  });

  it('rejects NaN latencies and weights that are negative, NaN or infinite', () => {
    const histogram = new LatencyHistogram();
    assert.throws(() => histogram.add(Number.NaN), RangeError);
    for (const weight of [-1, Number.NaN, Infinity]) assert.throws(() => histogram.add(5, weight), RangeError);
    assert.equal(histogram.count, 0);
  });
});

describe('API buckets', () => {
  it('re-buckets known values onto the default display bounds, with a final leMs: null', () => {
    const histogram = histogramOf([0, 0.5, 0.5, 0.5, 1.5, 1.5, 3, 7, 45, 150, 70_000]);
    const buckets = histogram.toApiBuckets();
    assert.deepEqual(
      buckets.map((bucket) => bucket.leMs),
      [...DEFAULT_DISPLAY_BOUNDS_MS, null],
    );
    const byBound = new Map(buckets.map((bucket) => [bucket.leMs, bucket.count]));
    assert.equal(byBound.get(1), 4);
    assert.equal(byBound.get(2), 2);
    assert.equal(byBound.get(5), 1);
    assert.equal(byBound.get(10), 1);
    assert.equal(byBound.get(50), 1);
    assert.equal(byBound.get(200), 1);
    assert.equal(byBound.get(null), 1);
    assert.equal(buckets.reduce((sum, bucket) => sum + bucket.count, 0), 11);
  });

  it('matches exact per-bucket counts on random data, is ordered and sums to count', () => {
    const bounds = DEFAULT_DISPLAY_BOUNDS_MS;
    // A value just above a display bound may share a fine bucket with it and be shown below it (≤ 2% off);
    // keep the samples clear of that so exact counts are the right expectation.
    const values = draw('log-normal (median 20 ms, σ 1)', 31).filter(
      (value) => !bounds.some((bound) => value > bound && value <= bound * 1.03),
    );
    const buckets = histogramOf(values).toApiBuckets(bounds);
    for (let i = 1; i < buckets.length - 1; i++) assert.ok(buckets[i]!.leMs! > buckets[i - 1]!.leMs!);
    assert.equal(buckets.at(-1)!.leMs, null);
    assert.equal(buckets.reduce((sum, bucket) => sum + bucket.count, 0), values.length);
    const expected = bounds.map(
      (bound, i) => values.filter((value) => value <= bound && (i === 0 || value > bounds[i - 1]!)).length,
    );
    expected.push(values.filter((value) => value > bounds.at(-1)!).length);
    assert.deepEqual(
      buckets.map((bucket) => bucket.count),
      expected,
    );
  });

  it('rounds fractional counts to integers that sum to the rounded count', () => {
    const histogram = new LatencyHistogram();
    histogram.add(0.5, 0.4);
    histogram.add(1.5, 0.4);
    histogram.add(3, 1.7);
    histogram.add(300, 2.6);
    const buckets = histogram.toApiBuckets([1, 2, 5]);
    assert.ok(buckets.every((bucket) => Number.isInteger(bucket.count)));
    assert.equal(buckets.reduce((sum, bucket) => sum + bucket.count, 0), Math.round(histogram.count)); // 5.1 → 5
    // Floors 0, 0, 1, 2 leave 2 to hand out; the largest remainders are 0.7 (≤ 5 ms) and 0.6 (+Inf).
    assert.deepEqual(
      buckets.map((bucket) => bucket.count),
      [0, 0, 2, 3],
    );
  });

  it('accepts custom bounds and rejects bounds that are not positive and strictly increasing', () => {
    const histogram = histogramOf([0.2, 0.7, 4]);
    assert.deepEqual(histogram.toApiBuckets([0.5, 1]), [
      { leMs: 0.5, count: 1 },
      { leMs: 1, count: 1 },
      { leMs: null, count: 1 },
    ]);
    assert.deepEqual(histogram.toApiBuckets([]), [{ leMs: null, count: 3 }]);
    assert.throws(() => histogram.toApiBuckets([5, 5]), RangeError);
    assert.throws(() => histogram.toApiBuckets([0, 1]), RangeError);
    assert.throws(() => histogram.toApiBuckets([1, Infinity]), RangeError);
  });

  it('summarises with percentiles from the fine buckets, not the display ones', () => {
    const summary = histogramOf(Array.from({ length: 20 }, () => 3.3)).toLatencySummary();
    assert.equal(summary.count, 20);
    for (const p of [summary.p50Ms, summary.p90Ms, summary.p95Ms, summary.p99Ms]) {
      assert.ok(p !== null && Math.abs(p - 3.3) / 3.3 <= RELATIVE_ACCURACY, `${p} ≈ 3.3, not the display bound 5`);
    }
    assert.equal(summary.buckets.find((bucket) => bucket.leMs === 5)!.count, 20);
  });

  it('summarises an empty histogram with zero counts and null percentiles', () => {
    const summary = new LatencyHistogram().toLatencySummary([1, 10]);
    assert.deepEqual(summary, {
      count: 0,
      p50Ms: null,
      p90Ms: null,
      p95Ms: null,
      p99Ms: null,
      buckets: [
        { leMs: 1, count: 0 },
        { leMs: 10, count: 0 },
        { leMs: null, count: 0 },
      ],
    });
  });
});

describe('Prometheus histogram folding', () => {
  // Envoy/Istio style, in ms: 2 requests ≤ 1 ms, 8 in (1, 5], 5 in (10, 25], 1 above 25.
  const envoy = [
    { le: 0.5, cumulativeCount: 0 },
    { le: 1, cumulativeCount: 2 },
    { le: 5, cumulativeCount: 10 },
    { le: 10, cumulativeCount: 10 },
    { le: 25, cumulativeCount: 15 },
    { le: Infinity, cumulativeCount: 16 },
  ];

  it('puts each source bucket on the fine bucket of its upper bound, +Inf on the last finite bound', () => {
    const histogram = foldPrometheusHistogram(envoy, 1);
    assert.equal(histogram.count, 16);
    assert.deepEqual(histogram.toSparse(), {
      indexes: [bucketIndex(1), bucketIndex(5), bucketIndex(25)],
      counts: [2, 8, 6],
    });
    assert.deepEqual(
      histogram.toApiBuckets([1, 5, 10, 25]).map((bucket) => bucket.count),
      [2, 8, 0, 6, 0],
    );
  });

  it('lands quantiles inside the bucket histogram_quantile picks (bucket precision)', () => {
    const histogram = foldPrometheusHistogram(envoy, 1);
    const p50 = histogram.quantile(0.5)!; // rank 8 → PromQL interpolates inside (1, 5]
    assert.ok(p50 > 1 && p50 <= 5 * (1 + RELATIVE_ACCURACY), `${p50}`);
    const p99 = histogram.quantile(0.99)!; // rank 15.84 → +Inf bucket → PromQL reports 25
    assert.ok(Math.abs(p99 - 25) / 25 <= RELATIVE_ACCURACY, `${p99}`);
  });

  it('converts seconds (Traefik) and accepts buckets in any order', () => {
    const traefik = [
      { le: Infinity, cumulativeCount: 10 },
      { le: 0.3, cumulativeCount: 6 },
      { le: 0.1, cumulativeCount: 3 },
      { le: 5, cumulativeCount: 10 },
      { le: 1.2, cumulativeCount: 9 },
    ];
    const histogram = foldPrometheusHistogram(traefik, 1000);
    assert.deepEqual(histogram.toSparse(), {
      indexes: [bucketIndex(100), bucketIndex(300), bucketIndex(1200), bucketIndex(5000)],
      counts: [3, 3, 3, 1],
    });
  });

  it('treats a dip in cumulative counts as flat, keeps fractional increases, and folds into an existing histogram', () => {
    const fromSpans = histogramOf([2, 2]);
    foldPrometheusHistogram(
      [
        { le: 1, cumulativeCount: 5 },
        { le: 5, cumulativeCount: 4 },
        { le: 10, cumulativeCount: 7.5 },
      ],
      1,
      fromSpans,
    );
    assert.equal(fromSpans.bucketCount(bucketIndex(1)), 5);
    assert.equal(fromSpans.bucketCount(bucketIndex(5)), 0);
    assert.equal(fromSpans.bucketCount(bucketIndex(10)), 2.5);
    assert.equal(fromSpans.bucketCount(bucketIndex(2)), 2);
    assert.equal(fromSpans.count, 9.5);
  });

  it('sends a histogram with only +Inf to overflow, and rejects bad input', () => {
    const histogram = foldPrometheusHistogram([{ le: Infinity, cumulativeCount: 3 }], 1);
    assert.equal(histogram.bucketCount(OVERFLOW_INDEX), 3);
    assert.throws(() => foldPrometheusHistogram(envoy, 0), RangeError);
    assert.throws(() => foldPrometheusHistogram([{ le: Number.NaN, cumulativeCount: 1 }], 1), RangeError);
    assert.throws(() => foldPrometheusHistogram([{ le: 1, cumulativeCount: -1 }], 1), RangeError);
  });
});
