// The counter pipeline on its own: cumulative values → per-interval increases (mesh-telemetry.md §8).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PrometheusBucket } from '../service-graph/histogram.ts';
import { CumulativeCounters, CumulativeHistograms, increaseOf, increaseToLatency, seriesKey, toCumulativeBuckets } from './cumulative.ts';

const STARTED = 1_000_000;
const T = STARTED + 10_000;
const options = { maxStalenessMs: 60_000, maxSeries: 100, startedAtMs: STARTED, clock: () => T };

/** Our clock, moved by the test: staleness is measured by it, not by the samples' times. */
function manualClock(startMs = T) {
  const clock = { now: startMs, read: () => clock.now };
  return clock;
}

describe('seriesKey', () => {
  it('ignores label order and cannot be forged by separators in names or values', () => {
    assert.equal(seriesKey('pod-a', 'rq', { b: '2', a: '1' }), seriesKey('pod-a', 'rq', { a: '1', b: '2' }));
    assert.notEqual(seriesKey('pod-a', 'rq', { a: '1,b=2' }), seriesKey('pod-a', 'rq', { a: '1', b: '2' }));
    assert.notEqual(seriesKey('pod-a', 'rq'), seriesKey('pod-b', 'rq'));
    assert.notEqual(seriesKey('a', 'b|c'), seriesKey('a|b', 'c'));
  });
});

describe('CumulativeCounters', () => {
  it('first observation is a baseline; then the increase since the previous value', () => {
    const counters = new CumulativeCounters(options);
    assert.equal(counters.increase('s', 1000, T), null, 'a lifetime total is not traffic in this window');
    assert.equal(counters.increase('s', 1030, T + 5000), 30);
    assert.equal(counters.increase('s', 1030, T + 10_000), 0, 'unchanged: zero, not null');
    assert.equal(counters.increase('s', 1044.5, T + 15_000), 14.5);
    assert.equal(counters.stats.baselines, 1);
  });

  it('series are independent', () => {
    const counters = new CumulativeCounters(options);
    counters.increase('a', 10, T);
    counters.increase('b', 500, T);
    assert.equal(counters.increase('a', 12, T + 1), 2);
    assert.equal(counters.increase('b', 510, T + 1), 10);
    assert.equal(counters.size, 2);
  });

  it('a value below the previous is a restart: the whole value is the increase', () => {
    const counters = new CumulativeCounters(options);
    counters.increase('s', 900, T);
    assert.equal(counters.increase('s', 7, T + 5000), 7);
    assert.equal(counters.increase('s', 10, T + 10_000), 3, 'the restarted value is the new reference');
    assert.equal(counters.stats.resets, 1);
  });

  it('a changed start time is a restart even when the value grew', () => {
    const counters = new CumulativeCounters(options);
    counters.increase('s', 50, T, STARTED - 100);
    assert.equal(counters.increase('s', 60, T + 5000, STARTED - 100), 10, 'same start time: a plain increase');
    assert.equal(counters.increase('s', 80, T + 10_000, T + 7000), 80, 'new start time: counted from 0');
    assert.equal(counters.stats.resets, 1);
  });

  it('a first observation whose start time is after our own start counts whole; one from before is a baseline', () => {
    const counters = new CumulativeCounters(options);
    assert.equal(counters.increase('new', 12, T, STARTED + 1), 12);
    assert.equal(counters.increase('old', 12, T, STARTED - 1), null);
    assert.equal(counters.increase('unknown', 12, T), null);
  });

  it('state goes stale after maxStalenessMs without an update: the next value is a new baseline', () => {
    const clock = manualClock();
    const counters = new CumulativeCounters({ ...options, clock: clock.read });
    counters.increase('s', 100, T);
    clock.now += 60_000;
    assert.equal(counters.increase('s', 110, T + 60_000), 10, 'exactly maxStalenessMs: still live');
    clock.now += 60_001;
    assert.equal(counters.increase('s', 500, T + 120_001), null, 'a gap over maxStalenessMs: baseline again');
    assert.equal(counters.stats.stale, 1);
    clock.now += 5000;
    assert.equal(counters.increase('s', 505, T + 125_000), 5);
  });

  it('staleness is measured by our clock: late samples (old timestamps) keep their series alive', () => {
    const clock = manualClock();
    const counters = new CumulativeCounters({ ...options, clock: clock.read });
    counters.increase('late', 10, T - 3_600_000);
    counters.increase('current', 10, T);
    clock.now += 5000;
    assert.equal(counters.increase('current', 12, T + 5000), 2);
    assert.equal(counters.increase('late', 15, T - 3_595_000), 5, 'an hour behind, but updated 5 s ago');
    assert.equal(counters.stats.stale, 0);
  });

  it('stale series are dropped from memory, by dropStale or by any later sample', () => {
    const clock = manualClock();
    const counters = new CumulativeCounters({ ...options, clock: clock.read });
    counters.increase('a', 1, T);
    clock.now += 30_000;
    counters.increase('b', 1, T + 30_000);
    clock.now += 31_000;
    counters.dropStale();
    assert.equal(counters.size, 1, 'a is dropped, b is not');
    clock.now += 39_000;
    counters.increase('c', 1, T + 100_000);
    assert.equal(counters.size, 1, 'b went stale when c arrived');
    assert.equal(counters.stats.stale, 2);
  });

  it('past maxSeries the least recently updated series is evicted and counted', () => {
    const counters = new CumulativeCounters({ ...options, maxSeries: 2 });
    counters.increase('a', 1, T);
    counters.increase('b', 1, T);
    counters.increase('a', 2, T + 1);
    counters.increase('c', 1, T + 2);
    assert.equal(counters.size, 2);
    assert.equal(counters.stats.evicted, 1);
    assert.equal(counters.increase('a', 3, T + 3), 1, 'a was updated recently: kept');
    assert.equal(counters.increase('b', 5, T + 3), null, 'b was evicted: a new baseline');
  });

  it('ignores values that are no counter reading and samples older than the stored one', () => {
    const counters = new CumulativeCounters(options);
    counters.increase('s', 10, T);
    assert.equal(counters.increase('s', Number.NaN, T + 1), null);
    assert.equal(counters.increase('s', -1, T + 1), null);
    assert.equal(counters.increase('s', Infinity, T + 1), null);
    assert.equal(counters.increase('s', 15, T - 1), null, 'out of order');
    assert.equal(counters.increase('s', 15, T + 2), 5, 'the state was left as it was');
    assert.equal(counters.stats.ignored, 4);
  });

  it('delta inputs pass through', () => {
    const counters = new CumulativeCounters(options);
    assert.equal(increaseOf(counters, 'delta', 's', 7, T), 7);
    assert.equal(increaseOf(counters, 'delta', 's', 3, T + 1), 3);
    assert.equal(counters.size, 0, 'no state for deltas');
    assert.equal(increaseOf(counters, 'cumulative', 's', 7, T), null);
    assert.equal(increaseOf(counters, 'cumulative', 's', 9, T + 1), 2);
  });

  it('refuses nonsense options', () => {
    assert.throws(() => new CumulativeCounters({ maxSeries: 0 }), RangeError);
    assert.throws(() => new CumulativeCounters({ maxStalenessMs: 0 }), RangeError);
  });
});

const hist = (counts: Record<string, number>): PrometheusBucket[] =>
  Object.entries(counts).map(([le, cumulativeCount]) => ({ le: le === '+Inf' ? Infinity : Number(le), cumulativeCount }));

describe('CumulativeHistograms', () => {
  it('first observation is a baseline; then per-bucket increases in cumulative form plus sum and count', () => {
    const histograms = new CumulativeHistograms(options);
    assert.equal(histograms.increase('h', hist({ 5: 10, 25: 30, 100: 40, '+Inf': 41 }), 900, 41, T), null);
    const increase = histograms.increase('h', hist({ 5: 12, 25: 40, 100: 55, '+Inf': 57 }), 1300, 57, T + 5000);
    assert.deepEqual(increase, { buckets: hist({ 5: 2, 25: 10, 100: 15, '+Inf': 16 }), sum: 400, count: 16 });
  });

  it('bucket order in the input does not matter: output is sorted by le', () => {
    const histograms = new CumulativeHistograms(options);
    histograms.increase('h', hist({ '+Inf': 4, 100: 3, 5: 1 }), 50, 4, T);
    const increase = histograms.increase('h', hist({ 100: 5, '+Inf': 7, 5: 2 }), 80, 7, T + 1);
    assert.deepEqual(increase?.buckets, hist({ 5: 1, 100: 2, '+Inf': 3 }));
  });

  it('a missing +Inf bucket holds the count (Envoy sends only its finite bounds)', () => {
    const histograms = new CumulativeHistograms(options);
    histograms.increase('h', hist({ 1: 1, 10: 2 }), 10, 3, T);
    const increase = histograms.increase('h', hist({ 1: 2, 10: 4 }), 20, 8, T + 1);
    assert.deepEqual(increase?.buckets, hist({ 1: 1, 10: 2, '+Inf': 5 }), '3 of the 5 new observations were above 10');
  });

  it('a falling count is a restart: the whole histogram is the increase', () => {
    const histograms = new CumulativeHistograms(options);
    histograms.increase('h', hist({ 5: 100, '+Inf': 200 }), 5000, 200, T);
    const increase = histograms.increase('h', hist({ 5: 3, '+Inf': 4 }), 30, 4, T + 1);
    assert.deepEqual(increase, { buckets: hist({ 5: 3, '+Inf': 4 }), sum: 30, count: 4 });
    assert.equal(histograms.stats.resets, 1);
    assert.deepEqual(histograms.increase('h', hist({ 5: 4, '+Inf': 6 }), 40, 6, T + 2), { buckets: hist({ 5: 1, '+Inf': 2 }), sum: 10, count: 2 });
  });

  it('a falling bucket or a changed start time is a restart too', () => {
    const histograms = new CumulativeHistograms(options);
    histograms.increase('h', hist({ 5: 100, '+Inf': 200 }), 5000, 200, T, STARTED - 5);
    assert.deepEqual(histograms.increase('h', hist({ 5: 50, '+Inf': 250 }), 6000, 250, T + 1, STARTED - 5)?.count, 250);
    assert.deepEqual(histograms.increase('h', hist({ 5: 60, '+Inf': 260 }), 6100, 260, T + 2, T + 1)?.count, 260);
    assert.equal(histograms.stats.resets, 2);
  });

  it('changed bounds start a new baseline; invalid input is ignored', () => {
    const histograms = new CumulativeHistograms(options);
    histograms.increase('h', hist({ 5: 1, '+Inf': 2 }), 10, 2, T);
    assert.equal(histograms.increase('h', hist({ 10: 1, '+Inf': 3 }), 12, 3, T + 1), null);
    assert.equal(histograms.increase('h', hist({ 10: 2, '+Inf': 5 }), 15, 5, T + 2)?.count, 2, 'diffed against the new layout');
    assert.equal(histograms.increase('h', hist({ 10: Number.NaN }), 15, 5, T + 3), null);
    assert.equal(histograms.increase('h', hist({ 10: 2, '+Inf': 5 }), 15, -1, T + 3), null);
    assert.equal(histograms.increase('h', [{ le: 10, cumulativeCount: 1 }, { le: 10, cumulativeCount: 2 }], 15, 5, T + 3), null, 'duplicate le');
  });

  it('a histogram first seen with a start time after our start counts whole; staleness and eviction apply', () => {
    const clock = manualClock();
    const histograms = new CumulativeHistograms({ ...options, maxSeries: 1, clock: clock.read });
    assert.equal(histograms.increase('h', hist({ 5: 1, '+Inf': 2 }), 10, 2, T, STARTED + 1)?.count, 2);
    histograms.increase('g', hist({ 5: 1, '+Inf': 2 }), 10, 2, T + 1);
    assert.equal(histograms.stats.evicted, 1);
    clock.now += 100_000;
    assert.equal(histograms.increase('g', hist({ 5: 1, '+Inf': 3 }), 10, 3, T + 100_000), null, 'stale: a new baseline');
    assert.equal(histograms.stats.stale, 1);
  });

  it('increases fold into latencies in ms whatever the source unit', () => {
    const histograms = new CumulativeHistograms(options);
    histograms.increase('s', hist({ 0.005: 0, 0.025: 0, '+Inf': 0 }), 0, 0, T);
    const seconds = histograms.increase('s', hist({ 0.005: 10, 0.025: 30, '+Inf': 30 }), 0.4, 30, T + 1)!;
    const latency = increaseToLatency(seconds, 1000);
    assert.equal(latency.count, 30);
    const p50 = latency.quantile(0.5)!;
    assert.ok(p50 > 5 && p50 <= 25.3, `p50 ${p50} ms lies in the (5, 25] ms bucket`);
  });

  it('OTLP per-bucket counts become cumulative le buckets ending at +Inf', () => {
    assert.deepEqual(toCumulativeBuckets([5, 10], [1, 2, 3]), hist({ 5: 1, 10: 3, '+Inf': 6 }));
  });
});
