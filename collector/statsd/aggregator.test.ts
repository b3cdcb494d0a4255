// Per-interval StatsD aggregation: sums weighted by sample rate, histograms, gauges, sets, series
// identity and the series bound.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AggregatedSeries, StatsdAggregator } from './aggregator.ts';
import { type StatsdMetric, parseLine } from './line.ts';

function feed(aggregator: StatsdAggregator, sender: string, ...lines: string[]): string[] {
  return lines.map((line) => {
    const parsed = parseLine(line);
    assert.equal(parsed.kind, 'metric', line);
    return aggregator.add((parsed as { metric: StatsdMetric }).metric, sender);
  });
}

const byName = (series: AggregatedSeries[]) => new Map(series.map((s) => [`${s.sender} ${s.name} ${s.type} ${JSON.stringify(s.tags)}`, s]));

describe('StatsdAggregator', () => {
  it('sums counters, each value counting 1/rate times', () => {
    const aggregator = new StatsdAggregator({ maxSeries: 100 });
    feed(aggregator, '10.0.0.1', 'hits:1|c', 'hits:2|c|@0.5', 'hits:1:1|c|@0.1', 'hits:3|c');
    const [hits] = aggregator.drain();
    assert.equal(hits?.type, 'c');
    assert.equal(hits.type === 'c' && Math.round(hits.count * 1e9) / 1e9, 1 + 4 + 20 + 3);
  });

  it('puts timers, histograms and distributions into a histogram, each sample weighing 1/rate', () => {
    const aggregator = new StatsdAggregator({ maxSeries: 100 });
    feed(aggregator, 's', 'rq:10|ms', 'rq:20|ms|@0.25', 'rq:30:40|ms', 'size:5|h', 'dist:7|d|@0.5');
    const series = byName(aggregator.drain());
    const rq = series.get('s rq ms {}');
    assert.ok(rq && rq.type === 'ms');
    assert.equal(rq.histogram.count, 1 + 4 + 2);
    assert.equal(rq.sum, 10 + 80 + 70);
    const p50 = rq.histogram.quantile(0.5)!;
    assert.ok(Math.abs(p50 - 20) <= 0.2, `the 20 ms sample weighs 4 of 7: p50 ${p50}`);
    const size = series.get('s size h {}');
    assert.ok(size && size.type === 'h' && size.histogram.count === 1);
    const dist = series.get('s dist d {}');
    assert.ok(dist && dist.type === 'd' && dist.histogram.count === 2);
  });

  it('keeps the last gauge value; +/- change the previous one, across intervals', () => {
    const aggregator = new StatsdAggregator({ maxSeries: 100 });
    feed(aggregator, 's', 'mem:10|g', 'mem:+5|g', 'mem:-3|g');
    assert.deepEqual(aggregator.drain().map((s) => s.type === 'g' && s.value), [12]);
    feed(aggregator, 's', 'mem:+1|g');
    assert.deepEqual(aggregator.drain().map((s) => s.type === 'g' && s.value), [13], 'the change applies to the last interval\'s value');
    feed(aggregator, 's', 'mem:4|g');
    assert.deepEqual(aggregator.drain().map((s) => s.type === 'g' && s.value), [4]);
    assert.deepEqual(aggregator.drain(), [], 'an interval without lines has no series');
  });

  it('counts the distinct members of a set', () => {
    const aggregator = new StatsdAggregator({ maxSeries: 100 });
    feed(aggregator, 's', 'users:a|s', 'users:b|s', 'users:a|s', 'users:c|s|#k:v');
    const series = byName(aggregator.drain());
    assert.equal((series.get('s users s {}') as { distinct: number }).distinct, 2);
    assert.equal((series.get('s users s {"k":"v"}') as { distinct: number }).distinct, 1);
  });

  it('keeps series apart by sender, type and tags, and parses the tags of each series', () => {
    const aggregator = new StatsdAggregator({ maxSeries: 100 });
    feed(aggregator, 'a', 'x:1|c|#k:1,j:2', 'x:1|c|#k:1,j:2', 'x:1|c|#k:2', 'x:1|ms', 'x,k=1,j=2:1|c');
    feed(aggregator, 'b', 'x:1|c|#k:1,j:2');
    const series = aggregator.drain();
    assert.deepEqual(series.map((s) => [s.sender, s.type, s.tags, s.type === 'c' ? s.count : null]), [
      ['a', 'c', { k: '1', j: '2' }, 3],
      ['a', 'c', { k: '2' }, 1],
      ['a', 'ms', {}, null],
      ['b', 'c', { k: '1', j: '2' }, 1],
    ], "Telegraf's name tags are the same tags");
  });

  it('keeps a DogStatsD timestamp with its series', () => {
    const aggregator = new StatsdAggregator({ maxSeries: 100 });
    feed(aggregator, 's', 'x:1|c|T1764140000', 'x:2|c|T1764140000', 'x:4|c');
    const series = aggregator.drain();
    assert.deepEqual(series.map((s) => [s.timestampS, s.type === 'c' && s.count]), [[1764140000, 3], [null, 4]]);
  });

  it('opens no series past maxSeries (existing ones still count), and has room again after a drain', () => {
    const aggregator = new StatsdAggregator({ maxSeries: 2 });
    assert.deepEqual(feed(aggregator, 's', 'a:1|c', 'b:1|c', 'c:1|c', 'a:1|c'), ['added', 'added', 'full', 'added']);
    assert.equal(aggregator.full, true);
    assert.deepEqual(aggregator.drain().map((s) => s.type === 'c' && [s.name, s.count]), [['a', 2], ['b', 1]]);
    assert.deepEqual(feed(aggregator, 's', 'c:1|c'), ['added']);
    assert.equal(aggregator.size, 1);
  });
});

describe('StatsdAggregator.takeLine (the receiver\'s way in)', () => {
  const ISTIO = 'envoy.cluster_name:outbound|9080||reviews.bookinfo.svc.cluster.local';
  /** Every form of the grammar, lines of open series among them (read in place) and first lines of series. */
  const LINES = [
    'hits:1|c', 'hits:2|c', 'hits:2|c|@0.5', 'hits:1:1|c', 'hits:+3|c', 'hits:-1.5|c', 'hits:2e1|c', 'hits:3|c\r',
    'rq:10|ms|#a:1,b:2', 'rq:12.5|ms|#a:1,b:2', 'rq:20|ms|#b:2,a:1', 'rq:7|ms|#a:1,b:2|@0.25', 'rq:1|ms|#a:1,b:2|T1764140000',
    'rq:9|h|#a:1,b:2', 'rq:9|d|#a:1,b:2', 'rq:1|ms|#', 'rq:2|ms|#',
    `envoy.cluster.upstream_rq:3|c|#${ISTIO},envoy.response_code:200`, `envoy.cluster.upstream_rq:4|c|#${ISTIO},envoy.response_code:200`,
    'mem:10|g', 'mem:+5|g', 'mem:-3|g', 'mem:1:+1|g', 'users:a|s', 'users:b|s', 'users:a|s',
    'req,env=prod:1|c', 'req:2|c|#env:prod', ' padded :1|c', 'padded:1|c',
    ...Array.from({ length: 12 }, (_, i) => `plain.name.${i}:${i}|c`), ...Array.from({ length: 12 }, (_, i) => `plain.name.${i}:1|c`),
    'hits:x|c', 'hits:1|zz', 'no value', ':1|c', 'hits:1|c|@7', '_e{1,1}:a|b', '_sc|s|0', '', '   ',
  ];

  it('reads every line as parseLine() and add() do, whether the series is open or not', () => {
    const added = new StatsdAggregator({ maxSeries: 100 });
    const expected: string[] = [];
    for (const line of LINES) {
      const parsed = parseLine(line);
      expected.push(parsed.kind === 'metric' ? added.add(parsed.metric, 's') : parsed.kind === 'malformed' ? parsed.reason : parsed.kind);
    }
    const taken = new StatsdAggregator({ maxSeries: 100 });
    const text = `first line\n${LINES.join('\n')}\nlast line`;
    const outcomes: string[] = [];
    let start = text.indexOf('\n') + 1;
    for (let i = 0; i < LINES.length; i++) {
      const end = text.indexOf('\n', start);
      outcomes.push(taken.takeLine(text, start, end, 's'));
      start = end + 1;
    }
    assert.deepEqual(outcomes, expected);
    const summary = (series: AggregatedSeries[]) =>
      series.map((s) => [s.name, s.type, s.tags, s.timestampS, s.type === 'c' ? s.count : s.type === 'g' ? s.value : s.type === 's' ? s.distinct : [s.histogram.count, s.sum]]);
    assert.deepEqual(summary(taken.drain()), summary(added.drain()));
  });

  it("counts a line 'ignored' when keep refuses its name and type, before its value is read; 'full' past maxSeries", () => {
    const aggregator = new StatsdAggregator({ maxSeries: 1 });
    const keep = (type: string, text: string, start: number, end: number) => type === 'c' && text.slice(start, end) === 'kept';
    const take = (line: string) => aggregator.takeLine(line, 0, line.length, 's', keep);
    assert.deepEqual(['kept:1|c', 'other:1|c', 'kept:1|g', 'other:oops|c', 'kept:2|c', 'kept:1|c|#new:series', 'kept:oops|c'].map(take),
      ['added', 'ignored', 'ignored', 'ignored', 'added', 'full', 'bad_value']);
    assert.deepEqual(aggregator.drain().map((s) => s.type === 'c' && [s.name, s.count]), [['kept', 3]]);
  });
});
