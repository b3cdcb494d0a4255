// The v3 API's pure parts: RFC 3339 times as Grafana and Jaeger clients write them, and attribute values
// back to OTLP AnyValues.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { otlpAttribute, parseRfc3339Nanos } from './jaeger-v3.ts';

const ns = (iso: string) => BigInt(Date.parse(iso)) * 1_000_000n;

describe('parseRfc3339Nanos', () => {
  it('keeps every fraction digit up to nanoseconds', () => {
    assert.equal(parseRfc3339Nanos('2026-11-26T10:00:00Z', 't'), ns('2026-11-26T10:00:00Z'));
    assert.equal(parseRfc3339Nanos('2026-11-26T10:00:00.5Z', 't'), ns('2026-11-26T10:00:00Z') + 500_000_000n);
    assert.equal(parseRfc3339Nanos('2026-11-26T10:00:00.123456789Z', 't'), ns('2026-11-26T10:00:00Z') + 123_456_789n);
  });

  it('applies offsets either way, and takes a space (an unencoded +) as +', () => {
    const utc = ns('2026-11-26T10:00:00Z');
    assert.equal(parseRfc3339Nanos('2026-11-26T11:30:00+01:30', 't'), utc);
    assert.equal(parseRfc3339Nanos('2026-11-26T11:30:00 01:30', 't'), utc);
    assert.equal(parseRfc3339Nanos('2026-11-26T05:00:00.000000001-05:00', 't'), utc + 1n);
  });

  it('refuses anything else, naming the parameter', () => {
    for (const text of ['2026-11-26', '2026-11-26T10:00:00', '1764150000', '2026-11-26T10:00:00.1234567890Z', 'yesterday']) {
      assert.throws(() => parseRfc3339Nanos(text, 'query.start_time_min'), /query\.start_time_min/, text);
    }
  });
});

describe('otlpAttribute', () => {
  it('gives each stored type its AnyValue: ints as strings, arrays and kvlists nested', () => {
    assert.deepEqual(otlpAttribute({ key: 'n', type: 'int', value: '9007199254740993' }), { key: 'n', value: { intValue: '9007199254740993' } });
    assert.deepEqual(otlpAttribute({ key: 'b', type: 'bool', value: 'false' }), { key: 'b', value: { boolValue: false } });
    assert.deepEqual(otlpAttribute({ key: 'd', type: 'double', value: '1.5' }), { key: 'd', value: { doubleValue: 1.5 } });
    assert.deepEqual(otlpAttribute({ key: 'x', type: 'bytes', value: 'AQI=' }), { key: 'x', value: { bytesValue: 'AQI=' } });
    assert.deepEqual(otlpAttribute({ key: 'kv', type: 'kvlist', value: '{"a":[1,2.5,true,null],"b":{"c":"d"}}' }), {
      key: 'kv',
      value: {
        kvlistValue: {
          values: [
            { key: 'a', value: { arrayValue: { values: [{ intValue: '1' }, { doubleValue: 2.5 }, { boolValue: true }, {}] } } },
            { key: 'b', value: { kvlistValue: { values: [{ key: 'c', value: { stringValue: 'd' } }] } } },
          ],
        },
      },
    });
  });
});
