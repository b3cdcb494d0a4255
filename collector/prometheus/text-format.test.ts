// The exposition parser against the grammar's corners (escapes, NaN/Inf, timestamps, OpenMetrics tail,
// exemplars, bad lines among good ones) and against what real senders print: prom-client's registry in
// both its text and OpenMetrics content types, an Envoy/Istio `/stats/prometheus` page and Linkerd's
// hybrid endpoint as mesh-telemetry.md describes them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';
import { SeriesTexts, familyOf, formatOf, parseExposition, parseValue } from './text-format.ts';

const one = (text: string) => {
  const parsed = parseExposition(text);
  assert.equal(parsed.errorCount, 0, `no errors expected: ${JSON.stringify(parsed.errors)}`);
  assert.equal(parsed.samples.length, 1);
  return parsed.samples[0]!;
};

describe('parseExposition: samples', () => {
  it('reads name, labels, value and a millisecond timestamp', () => {
    assert.deepEqual(one('http_requests_total{method="post",code="200"} 1027 1395066363000\n'), {
      name: 'http_requests_total',
      labels: { method: 'post', code: '200' },
      value: 1027,
      timestampMs: 1395066363000,
    });
  });

  it('reads a sample without labels, with empty braces, a trailing comma, blanks and tabs', () => {
    assert.deepEqual(one('metric_without_labels 12.47'), { name: 'metric_without_labels', labels: {}, value: 12.47 });
    assert.deepEqual(one('envoy_server_live{} 1'), { name: 'envoy_server_live', labels: {}, value: 1 });
    assert.deepEqual(one('a{b="c",} 1'), { name: 'a', labels: { b: 'c' }, value: 1 });
    assert.deepEqual(one('  a { b = "c" , d="e" }\t2\t  '), { name: 'a', labels: { b: 'c', d: 'e' }, value: 2 });
  });

  it('undoes the escapes \\\\, \\" and \\n in label values and keeps other backslashes', () => {
    const sample = one('msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\"",re="a\\d"} 1.458255915e9');
    assert.deepEqual(sample.labels, { path: 'C:\\DIR\\FILE.TXT', error: 'Cannot find file:\n"FILE.TXT"', re: 'a\\d' });
    assert.equal(sample.value, 1.458255915e9);
  });

  it('keeps "}" "," "#" and "=" inside label values', () => {
    assert.deepEqual(one('a{path="/x{1},y#z=w"} 3 # {trace_id="abc"} 1').labels, { path: '/x{1},y#z=w' });
  });

  it('reads NaN, +Inf, -Inf and exponents', () => {
    assert.ok(Number.isNaN(one('a NaN').value));
    assert.equal(one('a +Inf').value, Number.POSITIVE_INFINITY);
    assert.equal(one('a -Inf').value, Number.NEGATIVE_INFINITY);
    assert.equal(one('a{le="+Inf"} 5').labels.le, '+Inf');
    assert.equal(one('a -1.5e-3').value, -0.0015);
    assert.equal(parseValue('0x10'), undefined, 'hex is not a sample value');
    assert.equal(parseValue(''), undefined);
  });

  it('reads UTF-8 metric and label names in quotes', () => {
    assert.deepEqual(one('{"my.metric", "k.8s"="v"} 1'), { name: 'my.metric', labels: { 'k.8s': 'v' }, value: 1 });
  });

  it('keeps __proto__ as an ordinary label', () => {
    const sample = one('a{__proto__="x"} 1');
    assert.equal(Object.getPrototypeOf(sample.labels), Object.prototype);
    assert.deepEqual(Object.entries(sample.labels), [['__proto__', 'x']]);
  });

  it('accepts CRLF line ends and no final newline', () => {
    const parsed = parseExposition('a 1\r\nb 2');
    assert.deepEqual(parsed.samples.map((s) => [s.name, s.value]), [['a', 1], ['b', 2]]);
  });
});

describe('parseExposition: bad lines are counted and skipped, the rest counts', () => {
  it('skips each bad line with its line number and reason', () => {
    const text = [
      '# TYPE good counter',
      'good 1',
      'garbage here',
      'bad{a="b" 1',
      'bad{a=b} 1',
      'bad{a="b",a="c"} 1',
      'bad{a="unterminated} 1',
      'nothing',
      'tooMany 1 2 3',
      'badts 1 12.5',
      '# TYPE x wibble',
      '{} 1',
      '9starts_with_digit 1',
      'also_good{x="y"} 2',
    ].join('\n');
    const parsed = parseExposition(text);
    assert.deepEqual(parsed.samples, [
      { name: 'good', labels: {}, value: 1 },
      { name: 'also_good', labels: { x: 'y' }, value: 2 },
    ]);
    assert.equal(parsed.errorCount, 11);
    assert.deepEqual(parsed.errors.map((e) => e.line), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    assert.match(parsed.errors[0]!.message, /not a number: "here"/);
    assert.match(parsed.errors[3]!.message, /label a appears twice/);
    assert.match(parsed.errors[8]!.message, /unknown metric type "wibble"/);
  });

  it('keeps reasons for the first few bad lines only but counts them all', () => {
    const parsed = parseExposition(Array.from({ length: 50 }, () => 'x y z w').join('\n'), { maxErrorDetails: 3 });
    assert.equal(parsed.errorCount, 50);
    assert.equal(parsed.errors.length, 3);
  });
});

describe('parseExposition: a source parsed again (SeriesTexts), names not read', () => {
  const first = [
    '# TYPE rq counter',
    'rq{a="1",b="2"} 10',
    'rq{a="1",b="3"} 5 1764140400000',
    'rq{a="x\\"}y",b="back\\\\slash"} 1',
    'gone{a="1"} 7',
    'rq{a="b",a="c"} 1',
    'rq{a="unterminated} 1',
  ].join('\n');
  const second = [
    '# TYPE rq counter',
    'rq{a="1",b="2"} 12',
    'rq{a="new"} 1',
    'rq{b="3",a="1"} 6 1764140415000',
    'rq{a="x\\"}y",b="back\\\\slash"} 2',
    'rq{a="b",a="c"} 1',
    'rq{a="1",b="2"}  13',
  ].join('\n');

  it('gives what a parse without it gives; a line printed as before reuses its name and labels objects', () => {
    const series = new SeriesTexts();
    const a = parseExposition(first, { series });
    assert.deepEqual(a, parseExposition(first));
    assert.equal(series.size, 4, 'the good series are kept, not the bad lines');
    const b = parseExposition(second, { series });
    assert.deepEqual(b, parseExposition(second));
    assert.deepEqual(b.errors.map((e) => e.line), [6]);
    assert.deepEqual(b.samples[3]!.labels, { a: 'x"}y', b: 'back\\slash' });
    // Same text, same objects: printed unchanged, out of its old place, twice in one page.
    assert.equal(b.samples[0]!.labels, a.samples[0]!.labels);
    assert.equal(b.samples[3]!.labels, a.samples[2]!.labels);
    assert.equal(b.samples[4]!.labels, a.samples[0]!.labels);
    // The same labels in another order are read anew: equal, not the same object.
    assert.notEqual(b.samples[2]!.labels, a.samples[1]!.labels);
    assert.deepEqual(b.samples[2]!.labels, a.samples[1]!.labels);
    assert.equal(series.size, 4, 'only the series of the latest parse are kept (gone{…} and the first a=1,b=3 are forgotten)');
    const again = parseExposition(first, { series });
    assert.notEqual(again.samples[3]!.labels, a.samples[3]!.labels, 'a forgotten series is read anew');
    assert.deepEqual(again, a);
  });

  it('keeps no more series than its budget (shared between sources) allows; the rest are read anew, as right', () => {
    const budget = { left: 3 };
    const [one, other] = [new SeriesTexts(budget), new SeriesTexts(budget)];
    const a = parseExposition(first, { series: one });
    assert.deepEqual([one.size, budget.left], [3, 0]);
    const b = parseExposition(first, { series: other });
    assert.deepEqual(b, a);
    assert.deepEqual([other.size, budget.left], [0, 0]);
    assert.deepEqual(parseExposition(second, { series: one }), parseExposition(second));
    assert.equal(one.size + budget.left, 3, 'what a parse forgets goes back to the budget');
    one.clear();
    assert.deepEqual([one.size, budget.left], [0, 3]);
    parseExposition(first, { series: other });
    assert.equal(other.size, 3);
  });

  it('reads only the names asked for: the other lines are counted as skipped, never as bad', () => {
    const text = ['# TYPE istio_requests_total counter', 'istio_requests_total{reporter="source"} 3', 'envoy_server_live{} 1', 'envoy_garbage{{{ not a sample', 'envoy_no_value', 'istio_requests_total{reporter="destination"} x'].join('\n');
    const parsed = parseExposition(text, { reads: (name) => name === 'istio_requests_total' });
    assert.deepEqual(parsed.samples, [{ name: 'istio_requests_total', labels: { reporter: 'source' }, value: 3 }]);
    assert.equal(parsed.skipped, 3);
    assert.equal(parsed.errorCount, 1, 'a read line that is bad is still bad');
    assert.equal(parseExposition(text).skipped, 0);
  });
});

describe('parseExposition: comments and families', () => {
  it('records TYPE, HELP (escapes undone) and UNIT; other comments are free text', () => {
    const parsed = parseExposition(
      '# HELP api_latency Latency with a \\\\ and\\nnewline\n# TYPE api_latency histogram\n# UNIT api_latency seconds\n# just a comment\napi_latency_bucket{le="1"} 0\n',
    );
    assert.deepEqual(parsed.families.get('api_latency'), { type: 'histogram', help: 'Latency with a \\ and\nnewline', unit: 'seconds' });
    assert.equal(familyOf('api_latency_bucket', parsed.families)?.name, 'api_latency');
    assert.equal(familyOf('api_latency_total', parsed.families), undefined, '_total is no suffix of a histogram');
  });
});

describe('parseExposition: OpenMetrics', () => {
  it('reads second timestamps, drops exemplars, returns _created apart and stops at # EOF', () => {
    const text = [
      '# TYPE foo counter',
      '# HELP foo Requests.',
      'foo_total{a="1"} 17.0 1520879607.789 # {trace_id="KOO5S4vxi0o"} 0.67',
      'foo_created{a="1"} 1520430000.123',
      '# TYPE bar histogram',
      'bar_bucket{le="0.5"} 2 # {trace_id="x"} 0.4 1520879607.7',
      'bar_bucket{le="+Inf"} 3',
      'bar_count 3',
      'bar_sum 1.5',
      'bar_created 1520430000',
      '# EOF',
      '',
    ].join('\n');
    const parsed = parseExposition(text, { format: 'openmetrics' });
    assert.equal(parsed.errorCount, 0, JSON.stringify(parsed.errors));
    assert.equal(parsed.sawEof, true);
    assert.deepEqual(parsed.samples[0], { name: 'foo_total', labels: { a: '1' }, value: 17, timestampMs: 1520879607789 });
    assert.deepEqual(parsed.samples.map((s) => s.name), ['foo_total', 'bar_bucket', 'bar_bucket', 'bar_count', 'bar_sum']);
    assert.deepEqual(parsed.created, [
      { name: 'foo_created', labels: { a: '1' }, value: 1520430000.123 },
      { name: 'bar_created', labels: {}, value: 1520430000 },
    ]);
  });

  it('counts content after # EOF as an error and ignores it', () => {
    const parsed = parseExposition('a 1\n# EOF\nb 2\nc 3\n', { format: 'openmetrics' });
    assert.deepEqual(parsed.samples.map((s) => s.name), ['a']);
    assert.equal(parsed.errorCount, 1);
    assert.match(parsed.errors[0]!.message, /after # EOF/);
  });

  it('a gauge that happens to end in _created is a sample', () => {
    const parsed = parseExposition('# TYPE job_created gauge\njob_created 5\n');
    assert.deepEqual(parsed.samples.map((s) => s.name), ['job_created']);
    assert.deepEqual(parsed.created, []);
  });

  it('formatOf reads the Content-Type', () => {
    assert.equal(formatOf('application/openmetrics-text; version=1.0.0; charset=utf-8'), 'openmetrics');
    assert.equal(formatOf('text/plain; version=0.0.4; charset=utf-8'), 'text');
    assert.equal(formatOf(null), 'text');
  });
});

describe('parseExposition: real senders', () => {
  function registryWithTraffic(): Registry {
    const registry = new Registry();
    const requests = new Counter({ name: 'request_total', help: 'Total requests.', labelNames: ['direction', 'dst_deployment', 'path'] as const, registers: [registry] });
    const latency = new Histogram({ name: 'response_latency_ms', help: 'Latency "quoted" \\ back', labelNames: ['direction'] as const, buckets: [1, 10, 100], registers: [registry] });
    const inflight = new Gauge({ name: 'inflight', help: 'In flight.', registers: [registry] });
    const sizes = new Summary({ name: 'sizes', help: 'Sizes.', percentiles: [0.5, 0.99], registers: [registry] });
    requests.inc({ direction: 'outbound', dst_deployment: 'reviews-v2', path: 'C:\\a "b"\nc' }, 7);
    latency.observe({ direction: 'outbound' }, 5);
    latency.observe({ direction: 'outbound' }, 50);
    latency.observe({ direction: 'outbound' }, 500);
    inflight.set(Number.NaN);
    sizes.observe(3);
    return registry;
  }

  function checkTraffic(samples: ReturnType<typeof parseExposition>['samples']): void {
    const value = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(Object.entries(labels).sort()))?.value;
    assert.equal(value('request_total', { direction: 'outbound', dst_deployment: 'reviews-v2', path: 'C:\\a "b"\nc' }), 7);
    assert.equal(value('response_latency_ms_bucket', { direction: 'outbound', le: '1' }), 0);
    assert.equal(value('response_latency_ms_bucket', { direction: 'outbound', le: '10' }), 1);
    assert.equal(value('response_latency_ms_bucket', { direction: 'outbound', le: '100' }), 2);
    assert.equal(value('response_latency_ms_bucket', { direction: 'outbound', le: '+Inf' }), 3);
    assert.equal(value('response_latency_ms_count', { direction: 'outbound' }), 3);
    assert.equal(value('response_latency_ms_sum', { direction: 'outbound' }), 555);
    assert.ok(Number.isNaN(value('inflight', {})!));
    assert.equal(value('sizes', { quantile: '0.5' }), 3);
    assert.equal(value('sizes_count', {}), 1);
  }

  it("prom-client's text 0.0.4 output", async () => {
    const registry = registryWithTraffic();
    assert.match(registry.contentType, /^text\/plain; version=0\.0\.4/);
    const parsed = parseExposition(await registry.metrics(), { format: formatOf(registry.contentType) });
    assert.equal(parsed.errorCount, 0, JSON.stringify(parsed.errors));
    checkTraffic(parsed.samples);
    assert.equal(parsed.families.get('request_total')?.type, 'counter');
    assert.equal(parsed.families.get('response_latency_ms')?.help, 'Latency "quoted" \\ back');
  });

  it("prom-client's OpenMetrics output (application/openmetrics-text, exemplars on, # EOF)", async () => {
    const registry = new Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const requests = new Counter({ name: 'request', help: 'Total requests.', labelNames: ['dst_deployment'] as const, registers: [registry], enableExemplars: true });
    const latency = new Histogram({ name: 'response_latency_ms', help: 'Latency.', buckets: [1, 10], registers: [registry], enableExemplars: true });
    // prom-client types exemplar labels as the metric's own label names; any names are valid on the wire.
    const exemplarLabels = { traceId: 'abc123', spanId: 'def' } as unknown as Partial<Record<'dst_deployment', string>>;
    requests.inc({ labels: { dst_deployment: 'details-v1' }, value: 4, exemplarLabels });
    latency.observe({ value: 5, labels: {}, exemplarLabels: { traceId: 'abc123' } });
    const body = await registry.metrics();
    assert.match(body, /# \{traceId="abc123"/, 'the body carries exemplars');
    const parsed = parseExposition(body, { format: formatOf(registry.contentType) });
    assert.equal(parsed.errorCount, 0, JSON.stringify(parsed.errors));
    assert.equal(parsed.sawEof, true);
    assert.equal(parsed.families.get('request')?.type, 'counter');
    const counted = parsed.samples.find((s) => s.name === 'request_total');
    assert.deepEqual(counted?.labels, { dst_deployment: 'details-v1' });
    assert.equal(counted?.value, 4);
    assert.equal(parsed.samples.find((s) => s.name === 'response_latency_ms_bucket' && s.labels.le === '10')?.value, 1);
    assert.equal(parsed.samples.find((s) => s.name === 'response_latency_ms_count')?.value, 1);
  });

  it('an Envoy/Istio /stats/prometheus page: # TYPE only, {} on label-less series, fractional _sum', () => {
    const text = [
      '# TYPE envoy_cluster_upstream_rq_total counter',
      'envoy_cluster_upstream_rq_total{envoy_cluster_name="outbound|9080||reviews.bookinfo.svc.cluster.local"} 12',
      '# TYPE istio_requests_total counter',
      'istio_requests_total{reporter="source",source_workload="productpage-v1",destination_workload="reviews-v2",response_code="200"} 7',
      '# TYPE envoy_server_live gauge',
      'envoy_server_live{} 1',
      '# TYPE istio_request_duration_milliseconds histogram',
      'istio_request_duration_milliseconds_bucket{reporter="source",le="0.5"} 0',
      'istio_request_duration_milliseconds_bucket{reporter="source",le="+Inf"} 7',
      'istio_request_duration_milliseconds_sum{reporter="source"} 160.30000000000001',
      'istio_request_duration_milliseconds_count{reporter="source"} 7',
      '',
    ].join('\n');
    const parsed = parseExposition(text);
    assert.equal(parsed.errorCount, 0);
    assert.equal(parsed.samples.length, 7);
    assert.equal(parsed.samples[0]!.labels.envoy_cluster_name, 'outbound|9080||reviews.bookinfo.svc.cluster.local');
    assert.equal(parsed.samples[5]!.value, 160.3);
  });

  it("Linkerd's hybrid endpoint: text families, then # UNIT, _count before _sum, # EOF (served as text/plain)", () => {
    const text = [
      '# HELP request_total Total count of HTTP requests.',
      '# TYPE request_total counter',
      'request_total{direction="outbound",authority="reviews.bookinfo.svc.cluster.local:9080",tls="true",dst_deployment="reviews-v2",dst_namespace="bookinfo"} 9',
      '# HELP response_latency_ms Elapsed times between a request\'s headers being received and its response stream completing',
      '# TYPE response_latency_ms histogram',
      'response_latency_ms_bucket{direction="outbound",le="1"} 0',
      'response_latency_ms_bucket{direction="outbound",le="+Inf"} 9',
      'response_latency_ms_count{direction="outbound"} 9',
      'response_latency_ms_sum{direction="outbound"} 120',
      '# HELP outbound_http_route_request_duration_seconds The time between request initialization and response completion.',
      '# TYPE outbound_http_route_request_duration_seconds histogram',
      '# UNIT outbound_http_route_request_duration_seconds seconds',
      'outbound_http_route_request_duration_seconds_sum{parent_name="reviews"} 0.25',
      'outbound_http_route_request_duration_seconds_count{parent_name="reviews"} 3',
      'outbound_http_route_request_duration_seconds_bucket{le="0.05",parent_name="reviews"} 3',
      'outbound_http_route_request_duration_seconds_bucket{le="+Inf",parent_name="reviews"} 3',
      '# EOF',
    ].join('\n');
    const parsed = parseExposition(text, { format: 'text' });
    assert.equal(parsed.errorCount, 0, JSON.stringify(parsed.errors));
    assert.equal(parsed.samples.length, 9);
    assert.equal(parsed.families.get('outbound_http_route_request_duration_seconds')?.unit, 'seconds');
    assert.equal(parsed.sawEof, true);
  });
});
