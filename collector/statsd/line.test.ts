// The StatsD / DogStatsD line grammar: every type, field and extension, and each way a line is malformed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ParsedLine, type StatsdMetric, metricTags, parseLine, parsePacket, readPlainDecimal } from './line.ts';

function metric(line: string): StatsdMetric {
  const parsed = parseLine(line);
  assert.equal(parsed.kind, 'metric', `${line} parses as a metric, got ${JSON.stringify(parsed)}`);
  return (parsed as Extract<ParsedLine, { kind: 'metric' }>).metric;
}

/** The values of a line that has some (every type but s). */
function valuesOf(line: string): unknown {
  const m = metric(line);
  return m.type === 's' ? undefined : m.values;
}

const reason = (line: string) => {
  const parsed = parseLine(line);
  return parsed.kind === 'malformed' ? parsed.reason : `not malformed: ${parsed.kind}`;
};

describe('parseLine: types', () => {
  it('reads a counter, a timer, a histogram and a distribution', () => {
    assert.deepEqual(metric('page.views:1|c'), { name: 'page.views', type: 'c', values: [1], sampleRate: 1, tagText: '', containerId: '', timestampS: null });
    assert.deepEqual(valuesOf('rq_time:12.5|ms'), [12.5]);
    assert.equal(metric('rq_time:12.5|ms').type, 'ms');
    assert.equal(metric('payload:512|h').type, 'h');
    assert.equal(metric('latency:3e2|d').type, 'd');
    assert.deepEqual(valuesOf('latency:3e2|d'), [300]);
    assert.deepEqual(valuesOf('queue:-4|c'), [-4], 'a counter may go down');
  });

  it('reads gauges: absolute values, and +/- as changes to the previous value', () => {
    assert.deepEqual(valuesOf('mem:512|g'), [{ value: 512, relative: false }]);
    assert.deepEqual(valuesOf('mem:+8|g'), [{ value: 8, relative: true }]);
    assert.deepEqual(valuesOf('mem:-8.5|g'), [{ value: -8.5, relative: true }]);
  });

  it('reads a set member as text, colons and all', () => {
    const set = metric('users:alice|s');
    assert.equal(set.type, 's');
    assert.equal(set.type === 's' && set.member, 'alice');
    const withColons = metric('clients:10.0.0.1:5432|s');
    assert.equal(withColons.type === 's' && withColons.member, '10.0.0.1:5432', 'no multi-value packing for sets');
  });

  it('reads several values packed in one line (DogStatsD 1.1)', () => {
    assert.deepEqual(valuesOf('rq_time:1:2:3.5|ms'), [1, 2, 3.5]);
    assert.deepEqual(valuesOf('hits:1:1:1|c|@0.5'), [1, 1, 1]);
    assert.deepEqual(valuesOf('g:1:+2|g'), [{ value: 1, relative: false }, { value: 2, relative: true }]);
  });
});

describe('parseLine: fields', () => {
  it('reads a sample rate', () => {
    assert.equal(metric('hits:1|c|@0.1').sampleRate, 0.1);
    assert.equal(metric('t:4|ms|@.25').sampleRate, 0.25);
    assert.equal(metric('hits:1|c|@1').sampleRate, 1);
  });

  it('reads DogStatsD tags: split on commas, each tag on its first colon, valueless tags allowed', () => {
    assert.deepEqual(metricTags(metric('hits:1|c|#env:prod,url:http://x:80/a,canary')), { env: 'prod', url: 'http://x:80/a', canary: '' });
  });

  it('reads the fields in any order, with the container id and the timestamp', () => {
    const m = metric('envoy.cluster.upstream_rq:3|c|#envoy.cluster_name:backend,envoy.response_code:200|@0.5|c:83c0a99c0a54c0c187f461c7980e9b57f3f6a8b0c918c8d93df19a9de6f3fe1d|T1764140000');
    assert.equal(m.sampleRate, 0.5);
    assert.deepEqual(metricTags(m), { 'envoy.cluster_name': 'backend', 'envoy.response_code': '200' });
    assert.equal(m.containerId, '83c0a99c0a54c0c187f461c7980e9b57f3f6a8b0c918c8d93df19a9de6f3fe1d');
    assert.equal(m.timestampS, 1764140000);
    assert.equal(reason('hits:1|@0.5|c'), 'unknown_type', 'the type is the first field: "@0.5" is no type');
  });

  it('ignores fields it does not know (external data, cardinality, newer ones), as the Datadog agent does', () => {
    const m = metric('hits:2|c|#a:b|e:it-false,cn-app,pu-1234|card:high|x:future');
    assert.deepEqual(metricTags(m), { a: 'b' });
    assert.deepEqual(m.type === 'c' && m.values, [2]);
  });

  it('keeps a tag value holding "|" (an Istio cluster name) whole', () => {
    const m = metric('envoy.cluster.upstream_rq:7|c|#envoy.cluster_name:outbound|9080||reviews.bookinfo.svc.cluster.local,envoy.response_code:503|@1');
    assert.deepEqual(metricTags(m), { 'envoy.cluster_name': 'outbound|9080||reviews.bookinfo.svc.cluster.local', 'envoy.response_code': '503' });
  });

  it('ends the name at the first colon, so plain StatsD names may hold "|" and dots', () => {
    const m = metric('envoy.cluster.outbound|9080|v2|reviews.bookinfo.svc.cluster.local.upstream_rq_200:17|c');
    assert.equal(m.name, 'envoy.cluster.outbound|9080|v2|reviews.bookinfo.svc.cluster.local.upstream_rq_200');
    assert.deepEqual(m.type === 'c' && m.values, [17]);
  });

  it("reads Telegraf's tags in the name (hot-shots telegraf: true)", () => {
    const m = metric('requests,env=prod,region=eu:1|c');
    assert.equal(m.name, 'requests');
    assert.deepEqual(metricTags(m), { env: 'prod', region: 'eu' });
    assert.equal(metric('a,b:1|c').name, 'a,b', 'a comma without k=v is part of the name');
  });

  it('drops a trailing carriage return', () => {
    assert.deepEqual(valuesOf('hits:5|c\r'), [5]);
  });
});

describe('parseLine: what is not a metric', () => {
  it('recognises events and service checks, and skips empty lines', () => {
    assert.equal(parseLine('_e{5,4}:title|text|#env:prod').kind, 'event');
    assert.equal(parseLine('_sc|db.up|0|#env:prod|m:ok').kind, 'service_check');
    assert.equal(parseLine('').kind, 'empty');
    assert.equal(parseLine('   ').kind, 'empty');
  });

  it('names the reason a line is malformed', () => {
    assert.equal(reason('no colon here'), 'no_value');
    assert.equal(reason(':1|c'), 'empty_name');
    assert.equal(reason('hits:1'), 'no_type');
    assert.equal(reason('hits:1|x'), 'unknown_type');
    assert.equal(reason('hits:1|'), 'unknown_type');
    assert.equal(reason('hits:abc|c'), 'bad_value');
    assert.equal(reason('hits:|c'), 'bad_value');
    assert.equal(reason('hits:0x10|c'), 'bad_value');
    assert.equal(reason('hits:Infinity|c'), 'bad_value');
    assert.equal(reason('hits:1::2|c'), 'bad_value');
    assert.equal(reason('users:|s'), 'bad_value');
    assert.equal(reason('hits:1|c|@0'), 'bad_sample_rate');
    assert.equal(reason('hits:1|c|@1.5'), 'bad_sample_rate');
    assert.equal(reason('hits:1|c|@abc'), 'bad_sample_rate');
    assert.equal(reason('hits:1|c|Tnoon'), 'bad_timestamp');
  });
});

describe('parsePacket', () => {
  it('reads every line of a multi-metric packet, good lines past bad ones included', () => {
    const packet = parsePacket(['a:1|c', 'garbage', 'b:2|ms|#k:v', '_e{1,1}:a|b', 'c:x|g', '_sc|s|0', 'd:1|zz', ''].join('\n'));
    assert.deepEqual(packet.metrics.map((m) => m.name), ['a', 'b']);
    assert.equal(packet.events, 1);
    assert.equal(packet.serviceChecks, 1);
    assert.deepEqual(Object.fromEntries(packet.malformed), { no_value: 1, bad_value: 1, unknown_type: 1 });
  });
});

describe('readPlainDecimal', () => {
  it('reads plain decimals exactly as Number() does, from inside a text, and says NaN for every other form', () => {
    for (const text of ['0', '-0', '7', '+5', '-12.75', '0.1', '0.3', '.5', '5.', '3.14159', '123456789012345', '99999999999999.9', '0.00000000000001']) {
      assert.ok(Object.is(readPlainDecimal(`x:${text}|c`, 2, 2 + text.length), Number(text)), text);
    }
    for (const text of ['', '.', '-', '1e3', '1.2.3', '1:2', '0x10', 'Infinity', ' 1', '1234567890123456', '0.000000000000001']) { // over 15 digits: parseLine() reads those
      assert.ok(Number.isNaN(readPlainDecimal(`x:${text}|c`, 2, 2 + text.length)), text);
    }
  });
});
