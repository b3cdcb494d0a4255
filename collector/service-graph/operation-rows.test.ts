// OperationMinutes: SERVER and CONSUMER spans become exact per-minute rows per (service, operation),
// weighted and judged as errors by the same rules as their halves; other kinds are not counted.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type SpanRecord, SpanKind, StatusCode } from '../model.ts';
import { toHalf } from './halves.ts';
import { bucketIndex } from './histogram.ts';
import { OperationMinutes } from './operation-rows.ts';
import { type SpanSpec, span, traceId } from './spans-for-tests.ts';

const { Server, Client, Consumer, Producer, Internal } = SpanKind;
/** T0's minute and the one after, in Unix seconds. */
const MINUTE_0 = 1_764_139_980;
const MINUTE_1 = 1_764_140_040;
// Bucket indexes of 5, 20, 30 and 40 ms in histogram.ts's scheme (asserted in the first test).
const B5 = 426;
const B20 = 496;
const B30 = 516;
const B40 = 530;

const reviews = (spec: Omit<SpanSpec, 'service'> & { name: string }): SpanRecord => ({
  ...span({ ...spec, service: 'reviews', namespace: 'bookinfo', resourceAttributes: { 'service.version': 'v2' } }),
  name: spec.name,
});

function fold(spans: SpanRecord[]): unknown[][] {
  const minutes = new OperationMinutes();
  for (const s of spans) minutes.add(s.name, toHalf(s), 'spans');
  const drained = minutes.drain();
  assert.ok(drained);
  const rows = drained.body.toString().trimEnd().split('\n').map((line) => JSON.parse(line) as unknown[]);
  assert.equal(drained.rows, rows.length);
  assert.equal(minutes.size, 0, 'drain empties it');
  assert.equal(minutes.drain(), undefined);
  return rows;
}

describe('OperationMinutes', () => {
  it('folds served spans into per-minute rows with weighted requests, errors, histogram and exemplars', () => {
    assert.deepEqual([5, 20, 30, 40].map(bucketIndex), [B5, B20, B30, B40]);
    const rows = fold([
      reviews({ trace: '1', id: '11', kind: Server, name: 'GET /reviews', durationMs: 20, attributes: { 'http.response.status_code': 200 } }),
      reviews({ trace: '2', id: '21', kind: Server, name: 'GET /reviews', startMs: 100, durationMs: 20, attributes: { 'http.response.status_code': 503 } }),
      // A 404 is not an error even with OTLP status ERROR: the status code decides, as for edges.
      reviews({ trace: '3', id: '31', kind: Server, name: 'GET /reviews', startMs: 200, durationMs: 40, attributes: { 'http.response.status_code': 404 }, status: StatusCode.Error }),
      // Sampled 1 in 10: stands for ten requests.
      reviews({ trace: '4', id: '41', kind: Server, name: 'GET /reviews', startMs: 300, durationMs: 30, attributes: { SampleRate: 10 } }),
      // The next minute, then the first minute again.
      reviews({ trace: '6', id: '61', kind: Server, name: 'GET /reviews', startMs: 40_000, durationMs: 20 }),
      reviews({ trace: '5', id: '51', kind: Consumer, name: 'ratings-updated process', startMs: 400, durationMs: 5, attributes: { 'messaging.system': 'kafka' }, status: StatusCode.Error }),
      // What the service called and did inside a request: not what it served.
      reviews({ trace: '1', id: '12', parent: '11', kind: Client, name: 'SELECT ratings', startMs: 1, durationMs: 4, attributes: { 'db.system': 'mysql' } }),
      reviews({ trace: '1', id: '13', parent: '11', kind: Internal, name: 'GET /reviews', startMs: 1, durationMs: 10 }),
      reviews({ trace: '5', id: '52', parent: '51', kind: Producer, name: 'ratings-updated publish', startMs: 401, durationMs: 1, attributes: { 'messaging.system': 'kafka' } }),
    ]);
    assert.deepEqual(rows, [
      [MINUTE_0, 'bookinfo/reviews@v2', 'reviews', 'bookinfo', 'v2', 'GET /reviews', 'spans', 13, 1, [[B20, B30, B40], [2, 10, 1]], [traceId('1'), traceId('2'), traceId('3'), traceId('4')]],
      [MINUTE_1, 'bookinfo/reviews@v2', 'reviews', 'bookinfo', 'v2', 'GET /reviews', 'spans', 1, 0, [[B20], [1]], [traceId('6')]],
      [MINUTE_0, 'bookinfo/reviews@v2', 'reviews', 'bookinfo', 'v2', 'ratings-updated process', 'spans', 1, 1, [[B5], [1]], [traceId('5')]],
    ]);
  });

  it('keeps one row per service, operation and signal, and at most five distinct exemplar traces', () => {
    const minutes = new OperationMinutes();
    const add = (s: SpanRecord) => minutes.add(s.name, toHalf(s), 'spans');
    for (let t = 1; t <= 7; t++) add(reviews({ trace: String(t), id: `${t}1`, kind: Server, name: 'GET /reviews', durationMs: 20 }));
    // The same trace again adds a request but no second exemplar.
    add(reviews({ trace: '1', id: '19', kind: Server, name: 'GET /reviews', durationMs: 20 }));
    const ratings = span({ trace: '8', id: '81', kind: Server, service: 'ratings', durationMs: 20 });
    add({ ...ratings, name: 'GET /reviews' });
    assert.equal(minutes.size, 2);
    const rows = minutes.drain()!.body.toString().trimEnd().split('\n').map((line) => JSON.parse(line) as unknown[]);
    assert.deepEqual(rows, [
      [MINUTE_0, 'bookinfo/reviews@v2', 'reviews', 'bookinfo', 'v2', 'GET /reviews', 'spans', 8, 0, [[B20], [8]], ['1', '2', '3', '4', '5'].map(traceId)],
      [MINUTE_0, 'ratings', 'ratings', '', '', 'GET /reviews', 'spans', 1, 0, [[B20], [1]], [traceId('8')]],
    ]);
  });

  it('writes nothing for spans that served nothing', () => {
    const minutes = new OperationMinutes();
    const client = reviews({ id: '1', kind: Client, name: 'GET /ratings', durationMs: 3 });
    minutes.add(client.name, toHalf(client), 'spans');
    assert.equal(minutes.drain(), undefined);
  });
});
