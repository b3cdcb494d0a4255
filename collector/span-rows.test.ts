// The span row encoder writes UTF-8 bytes itself (no JSON.stringify per row): every value must come out
// as the JSON text storage parses back to the same string — quotes, control characters, non-ASCII, lone
// surrogates — and the rows of a batch must be exactly the bytes written, however large.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Attribute, Resource, SpanRecord } from './model.ts';
import { encodeSpanRow, encodeSpanRows } from './span-rows.ts';

const resource: Resource = { serviceName: 'reviews', namespace: 'bookinfo', attributes: [{ key: 'service.name', type: 'string', value: 'reviews' }] };

function span(text: string, attributes: Attribute[] = []): SpanRecord {
  return {
    traceId: '0123456789abcdef0123456789abcdef', spanId: '0123456789abcdef', parentSpanId: '', traceState: '', name: text, kind: 3,
    startTimeUnixNano: 1_795_691_419_896_000_000n, endTimeUnixNano: 1_795_691_419_896_002_500n, attributes, droppedAttributesCount: 12,
    events: [], droppedEventsCount: 0, links: [], droppedLinksCount: 0, statusCode: 2, statusMessage: text, flags: 257, resource,
    scope: { name: 'envoy', version: '' },
  };
}

describe('span rows', () => {
  it('writes every string so that it parses back to itself', () => {
    const values = ['plain', 'quote " and \\ backslash', 'new\nline\ttab\u0000nul\u001f', 'DEL\u007f', 'é ü 日本', '😀 pair', 'lone \ud800 high', 'lone \udfff low', '\u2028\u2029'];
    for (const value of values) {
      const row = encodeSpanRow(span(value, [{ key: value, type: 'string', value }, { key: 'n', type: 'int', value: '42' }]));
      assert.ok(row.endsWith('\n'));
      const parsed = JSON.parse(row) as unknown[];
      // A lone surrogate cannot be stored as UTF-8: it is written as its \u escape, which parses back to it.
      assert.equal(parsed[6], value, JSON.stringify(value));
      assert.equal(parsed[11], value);
      assert.deepEqual(parsed[13], { [value]: value, n: '42' });
      assert.deepEqual(parsed[14], { n: 'int' });
      assert.ok(Buffer.from(row).toString('utf8') === row, 'valid UTF-8');
    }
  });

  it('writes the columns in order: ids, names, kind, times, status, attributes, resource, scope, counts', () => {
    const parsed = JSON.parse(encodeSpanRow(span('GET /reviews'))) as unknown[];
    assert.deepEqual(parsed, [
      '0123456789abcdef0123456789abcdef', '0123456789abcdef', '', '', 'reviews', 'bookinfo', 'GET /reviews', 3,
      1_795_691_419_896_000_000, 2500, 2, 'GET /reviews', 257, {}, {}, { 'service.name': 'reviews' }, {}, 'envoy', '', '', '', [12, 0, 0],
    ]);
  });

  it('encodes a batch larger than its working buffer into exactly the rows, one per line', () => {
    const big = 'x'.repeat(100_000);
    const spans = [span('a'), span(big, [{ key: 'k', type: 'string', value: big }]), span('é')];
    const body = encodeSpanRows(spans);
    assert.equal(body.toString('utf8'), spans.map(encodeSpanRow).join(''));
    const lines = body.toString('utf8').split('\n');
    assert.equal(lines.length, 4);
    assert.deepEqual(lines.slice(0, 3).map((line) => (JSON.parse(line) as unknown[])[6]), ['a', big, 'é']);
    assert.equal(encodeSpanRows([]).length, 0);
  });
});
