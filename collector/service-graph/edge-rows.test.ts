// EdgeMinutes: edge observations fold into one row per (minute, caller, callee, protocol, signal), with
// minutes cut exactly at the nanosecond, and nodes told apart by id, not by object.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EDGE_COLUMNS } from '../storage/schema.ts';
import { EdgeMinutes } from './edge-rows.ts';
import type { NodeRef } from './halves.ts';
import { bucketIndex } from './histogram.ts';
import type { EdgeObservation } from './pairing.ts';
import { MS, T0, traceId } from './spans-for-tests.ts';

/** T0's minute and the one after, in Unix seconds. */
const MINUTE_0 = 1_764_139_980;
const MINUTE_1 = 1_764_140_040;
/** The first nanosecond of MINUTE_1. */
const MINUTE_1_NS = BigInt(MINUTE_1) * 1_000_000_000n;

const web = (): NodeRef => ({ kind: 'service', name: 'web', namespace: 'shop' });
const api = (kind: NodeRef['kind'] = 'service'): NodeRef => ({ kind, name: 'api', namespace: 'shop' });

function observation(overrides: Partial<EdgeObservation>): EdgeObservation {
  return {
    source: web(),
    target: api(),
    protocol: 'http',
    error: false,
    latencyNanos: 5_000_000,
    weight: 1,
    mtls: null,
    traceId: traceId('1'),
    timeUnixNano: T0,
    halves: ['x'],
    rule: 'parent-child',
    ...overrides,
  };
}

type Row = Record<(typeof EDGE_COLUMNS)[number], unknown>;

function drained(minutes: EdgeMinutes): Row[] {
  const out = minutes.drain();
  assert.ok(out);
  const lines = out.body.toString().trimEnd().split('\n');
  assert.equal(lines.length, out.rows);
  return lines.map((line) => Object.fromEntries(EDGE_COLUMNS.map((column, i) => [column, (JSON.parse(line) as unknown[])[i]])) as Row);
}

describe('EdgeMinutes', () => {
  it('folds observations of one edge and minute into one row, whatever node objects they carry', () => {
    const minutes = new EdgeMinutes();
    minutes.add(
      [
        observation({ target: api('virtual'), weight: 2, mtls: true, traceId: traceId('1'), requestBytes: 100, responseBytes: 1000 }),
        observation({ error: true, latencyNanos: 20_000_000, mtls: false, traceId: traceId('2'), requestBytes: 50 }),
        observation({ timeUnixNano: T0 + 10n * MS, traceId: traceId('1') }),
      ],
      'spans',
    );
    assert.equal(minutes.size, 1);
    const [row] = drained(minutes);
    assert.deepEqual(row, {
      minute: MINUTE_0,
      source_id: 'shop/web',
      source_name: 'web',
      source_namespace: 'shop',
      source_version: '',
      source_kind: 0,
      target_id: 'shop/api',
      target_name: 'api',
      target_namespace: 'shop',
      target_version: '',
      // Seen as a real service by one observation: a service, not the virtual guess of the first.
      target_kind: 0,
      protocol: 'http',
      signal: 'spans',
      requests: 4,
      errors: 1,
      mtls_yes: 2,
      mtls_no: 1,
      latency: [[bucketIndex(5), bucketIndex(20)], [3, 1]],
      exemplars: [traceId('1'), traceId('2')],
      // Bytes where stated, weighted like requests (the first observation stands for two calls).
      request_bytes: 250,
      response_bytes: 2000,
    });
    assert.equal(minutes.size, 0);
    assert.equal(minutes.drain(), undefined);
  });

  it('cuts minutes at the exact nanosecond, also when observations go back and forth between minutes', () => {
    const minutes = new EdgeMinutes();
    minutes.add(
      [
        observation({ timeUnixNano: MINUTE_1_NS - 1n }),
        observation({ timeUnixNano: MINUTE_1_NS }),
        observation({ timeUnixNano: MINUTE_1_NS - 1n }),
        observation({ timeUnixNano: MINUTE_1_NS + 59_999_999_999n }),
        observation({ timeUnixNano: MINUTE_1_NS + 60_000_000_000n }),
      ],
      'spans',
    );
    assert.deepEqual(
      drained(minutes).map((row) => [row.minute, row.requests]),
      [[MINUTE_0, 2], [MINUTE_1, 2], [MINUTE_1 + 60, 1]],
    );
  });

  it('keeps protocols, directions and nodes with other ids apart', () => {
    const minutes = new EdgeMinutes();
    minutes.add(
      [
        observation({}),
        observation({ protocol: 'grpc' }),
        observation({ source: api(), target: web() }),
        observation({ target: { kind: 'service', name: 'api', namespace: 'shop', version: 'v2' } }),
        observation({}),
      ],
      'spans',
    );
    assert.deepEqual(
      drained(minutes).map((row) => [row.source_id, row.target_id, row.protocol, row.requests]),
      [
        ['shop/web', 'shop/api', 'http', 2],
        ['shop/web', 'shop/api', 'grpc', 1],
        ['shop/api', 'shop/web', 'http', 1],
        ['shop/web', 'shop/api@v2', 'http', 1],
      ],
    );
  });

  it('starts afresh after a drain', () => {
    const minutes = new EdgeMinutes();
    minutes.add([observation({ weight: 3 })], 'spans');
    assert.deepEqual(drained(minutes).map((row) => row.requests), [3]);
    minutes.add([observation({})], 'spans');
    assert.deepEqual(drained(minutes).map((row) => row.requests), [1]);
  });
});
