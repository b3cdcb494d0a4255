// sparseQuantiles and mergeSparse (what the service graph reads its histograms with) give exactly what a
// LatencyHistogram gives for the same counts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUCKET_COUNT, LatencyHistogram, OVERFLOW_INDEX, bucketValueMs, mergeSparse, sparseQuantiles } from './histogram.ts';

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Histograms of several shapes: narrow, wide, heavy-tailed, with sampling weights whole or fractional. */
function histograms(seed: number, count: number): LatencyHistogram[] {
  const next = random(seed);
  return Array.from({ length: count }, (_, i) => {
    const h = new LatencyHistogram();
    const samples = Math.floor(next() * 300);
    const weight = i % 3 === 0 ? 1 / 0.3 : i % 3 === 1 ? 1 : 10;
    for (let s = 0; s < samples; s++) {
      const ms = i % 4 === 0 ? 5 + next() : i % 4 === 1 ? 0.0005 + next() * 5_000_000 : Math.exp(next() * 12) / 100;
      h.add(ms, weight);
    }
    return h;
  });
}

const QS = [0, 0.001, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1];

describe('sparseQuantiles', () => {
  it('gives LatencyHistogram.quantile exactly, for every quantile in one pass', () => {
    for (const h of histograms(1, 200)) {
      assert.deepEqual(sparseQuantiles(h.toSparse(), QS), QS.map((q) => h.quantile(q)));
    }
  });

  it('is null for an empty histogram, and keeps bucket values for underflow and overflow', () => {
    assert.deepEqual(sparseQuantiles({ indexes: [], counts: [] }, [0.5, 0.99]), [null, null]);
    assert.deepEqual(sparseQuantiles({ indexes: [0, OVERFLOW_INDEX], counts: [1, 1] }, [0.5, 1]), [bucketValueMs(0), bucketValueMs(OVERFLOW_INDEX)]);
  });

  it('follows the running count where calls were taken back (negative counts)', () => {
    // 3 calls in bucket 100, one of them taken back, 2 in bucket 200: p50 of 4 is in bucket 100, p99 in 200.
    assert.deepEqual(sparseQuantiles({ indexes: [100, 200, 300], counts: [2, 2, 0] }, [0.5, 0.99]), [bucketValueMs(100), bucketValueMs(200)]);
    assert.deepEqual(sparseQuantiles({ indexes: [100], counts: [-1] }, [0.5]), [null]);
  });

  it('refuses storage it cannot read as this bucket scheme, and quantiles out of order', () => {
    assert.throws(() => sparseQuantiles({ indexes: [BUCKET_COUNT], counts: [1] }, [0.5]), RangeError);
    assert.throws(() => sparseQuantiles({ indexes: [5, 5], counts: [1, 1] }, [0.5]), RangeError);
    assert.throws(() => sparseQuantiles({ indexes: [5, 4], counts: [1, 1] }, [0.5]), RangeError);
    assert.throws(() => sparseQuantiles({ indexes: [5], counts: [1, 1] }, [0.5]), RangeError);
    assert.throws(() => sparseQuantiles({ indexes: [5], counts: [1] }, [0.9, 0.5]), RangeError);
    assert.throws(() => sparseQuantiles({ indexes: [5], counts: [1] }, [1.5]), RangeError);
  });
});

describe('mergeSparse', () => {
  it('adds bucket by bucket as LatencyHistogram.merge does, whole or fractional weights', () => {
    const all = histograms(2, 60);
    for (let i = 0; i + 5 <= all.length; i += 5) {
      const group = all.slice(i, i + 5);
      const merged = new LatencyHistogram();
      for (const h of group) merged.merge(h);
      assert.deepEqual(mergeSparse(group.map((h) => h.toSparse())), merged.toSparse());
    }
  });

  it('keeps a bucket whose counts cancel (count 0), and leaves nothing behind for the next merge', () => {
    assert.deepEqual(mergeSparse([{ indexes: [7, 9], counts: [2, 1] }, { indexes: [7], counts: [-2] }]), { indexes: [7, 9], counts: [0, 1] });
    assert.deepEqual(mergeSparse([{ indexes: [9], counts: [4] }]), { indexes: [9], counts: [4] });
    assert.deepEqual(mergeSparse([]), { indexes: [], counts: [] });
    assert.throws(() => mergeSparse([{ indexes: [1], counts: [1] }, { indexes: [-1], counts: [1] }]), RangeError);
    assert.deepEqual(mergeSparse([{ indexes: [1], counts: [1] }]), { indexes: [1], counts: [1] }, 'a refused merge leaves no counts behind');
  });
});
