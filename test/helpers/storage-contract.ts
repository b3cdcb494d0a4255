// What every storage backend must do, written once and run against each: the embedded engine
// (ChdbStore), @clickhouse/client over chDB's connection adapter, and a real ClickHouse server. Spans
// go in through the collector's real SpanExporter (batcher + JSONCompactEachRow encoding) and come
// back through the query side's TraceReader, so the whole write and read path meets each backend.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CollectorMetrics } from '../../collector/metrics.ts';
import type { Attribute, Resource, SpanRecord } from '../../collector/model.ts';
import { SpanExporter } from '../../collector/span-exporter.ts';
import { LATEST_SCHEMA_VERSION, RETAINED_TABLES, SPAN_INGEST_COLUMNS, migrate } from '../../collector/storage/schema.ts';
import type { ClickHouseStore } from '../../collector/storage/store.ts';
import { type ReadSpan, TraceReader } from '../../query/trace-reader.ts';

export interface ContractBackend {
  /** Opens a store on an empty database, for this contract only. */
  open(): Promise<ClickHouseStore>;
  /** Removes what `open` created, after the store is closed. */
  cleanup?(): Promise<void>;
}

// ---- the spans: every field set, values that are hard to encode ----

const MS = 1_000_000n;
const SECOND = 1_000_000_000n;
const NOW = BigInt(Date.now()) * MS;

const frontend: Resource = {
  serviceName: 'frontend',
  namespace: 'shop',
  attributes: [
    { key: 'service.name', type: 'string', value: 'frontend' },
    { key: 'k8s.namespace.name', type: 'string', value: 'shop' },
    { key: 'process.pid', type: 'int', value: '4242' },
  ],
};
const payments: Resource = {
  serviceName: 'payments',
  namespace: 'shop',
  attributes: [
    { key: 'service.name', type: 'string', value: 'payments' },
    { key: 'k8s.namespace.name', type: 'string', value: 'shop' },
    { key: 'service.version', type: 'string', value: '2.0.1' },
  ],
};

const TRACE_CHECKOUT = '5e0000000000000000000000000000a1';
const TRACE_HOME = '5e0000000000000000000000000000b2';
const TRACE_SLOW = '5e0000000000000000000000000000c3';
const UNKNOWN_TRACE = '5e0000000000000000000000000000ff';

function span(fields: Partial<SpanRecord> & Pick<SpanRecord, 'traceId' | 'spanId' | 'name' | 'startTimeUnixNano' | 'endTimeUnixNano' | 'resource'>): SpanRecord {
  return {
    parentSpanId: '',
    traceState: '',
    kind: 2,
    attributes: [],
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    statusCode: 0,
    statusMessage: '',
    flags: 1,
    scope: { name: 'contract-test', version: '0.1.0' },
    ...fields,
  };
}

// The checkout trace, one minute ago; times carry nanoseconds that a millisecond type would lose.
const CHECKOUT_START = NOW - 60n * SECOND + 123_456_789n;
const checkout: SpanRecord[] = [
  span({
    traceId: TRACE_CHECKOUT,
    spanId: '5e000000000000a1',
    name: 'POST /checkout',
    startTimeUnixNano: CHECKOUT_START,
    endTimeUnixNano: CHECKOUT_START + 120n * MS,
    resource: frontend,
    traceState: 'vendor=a,other=b',
    attributes: [
      { key: 'http.request.method', type: 'string', value: 'POST' },
      { key: 'http.response.status_code', type: 'int', value: '502' },
    ],
  }),
  span({
    traceId: TRACE_CHECKOUT,
    spanId: '5e000000000000a2',
    parentSpanId: '5e000000000000a1',
    name: 'payment',
    kind: 3,
    startTimeUnixNano: CHECKOUT_START + 10n * MS + 1n,
    endTimeUnixNano: CHECKOUT_START + 90n * MS,
    resource: frontend,
    statusCode: 2,
    statusMessage: 'card "declined" \\ retry?',
  }),
  span({
    traceId: TRACE_CHECKOUT,
    spanId: '5e000000000000a3',
    parentSpanId: '5e000000000000a2',
    name: 'charge',
    kind: 2,
    startTimeUnixNano: CHECKOUT_START + 15n * MS + 7n,
    endTimeUnixNano: CHECKOUT_START + 85n * MS,
    resource: payments,
    flags: 0x301,
    attributes: [
      { key: 'payment.method', type: 'string', value: 'card' },
      { key: 'note', type: 'string', value: 'quote " backslash \\ newline \n tab \t unicode é ✓ 🚀' },
      { key: 'amount.cents', type: 'int', value: '9007199254740993' },
      { key: 'fx.rate', type: 'double', value: '1.0825' },
      { key: 'fraud.checked', type: 'bool', value: 'true' },
      { key: 'token', type: 'bytes', value: 'AAEC/w==' },
      { key: 'items', type: 'array', value: '["sku-1","sku-2"]' },
    ],
    droppedAttributesCount: 3,
    events: [
      { timeUnixNano: CHECKOUT_START + 20n * MS + 5n, name: 'card authorised', attributes: [{ key: 'attempt', type: 'int', value: '2' }], droppedAttributesCount: 1 },
      { timeUnixNano: CHECKOUT_START + 30n * MS, name: 'receipt "sent"', attributes: [], droppedAttributesCount: 0 },
    ],
    droppedEventsCount: 4,
    links: [{ traceId: TRACE_HOME, spanId: '5e000000000000b1', traceState: 'k=v', attributes: [{ key: 'link.reason', type: 'string', value: 'follows home' }], droppedAttributesCount: 0 }],
    droppedLinksCount: 5,
    scope: { name: 'payments-sdk', version: '' },
  }),
];

const HOME_START = NOW - 30n * SECOND;
const home: SpanRecord[] = [
  span({ traceId: TRACE_HOME, spanId: '5e000000000000b1', name: 'GET /', startTimeUnixNano: HOME_START, endTimeUnixNano: HOME_START + 3n * MS, resource: frontend }),
];

const SLOW_START = NOW - 120n * SECOND;
const slow: SpanRecord[] = [
  span({ traceId: TRACE_SLOW, spanId: '5e000000000000c1', name: 'charge', startTimeUnixNano: SLOW_START, endTimeUnixNano: SLOW_START + 2n * SECOND, resource: payments }),
];

/** What TraceReader must give back for a span we wrote. */
function expectedReadSpan(s: SpanRecord): ReadSpan {
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    parentSpanId: s.parentSpanId,
    traceState: s.traceState,
    service: s.resource.serviceName,
    namespace: s.resource.namespace,
    name: s.name,
    kind: s.kind,
    startTimeUnixNano: s.startTimeUnixNano,
    durationNanos: s.endTimeUnixNano - s.startTimeUnixNano,
    statusCode: s.statusCode,
    statusMessage: s.statusMessage,
    flags: s.flags,
    attributes: byKey(s.attributes),
    resourceAttributes: byKey(s.resource.attributes),
    scopeName: s.scope.name,
    scopeVersion: s.scope.version,
    events: s.events.map((e) => ({ ...e, attributes: byKey(e.attributes) })),
    links: s.links.map((l) => ({ ...l, attributes: byKey(l.attributes) })),
    droppedAttributesCount: s.droppedAttributesCount,
    droppedEventsCount: s.droppedEventsCount,
    droppedLinksCount: s.droppedLinksCount,
  };
}

const byKey = (attributes: readonly Attribute[]) => [...attributes].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

/** Attribute order is not part of the contract: compare them sorted. */
function normalised(spans: readonly ReadSpan[]): ReadSpan[] {
  return spans.map((s) => ({
    ...s,
    attributes: byKey(s.attributes),
    resourceAttributes: byKey(s.resourceAttributes),
    events: s.events.map((e) => ({ ...e, attributes: byKey(e.attributes) })),
    links: s.links.map((l) => ({ ...l, attributes: byKey(l.attributes) })),
  }));
}

async function ttlDays(store: ClickHouseStore): Promise<Record<string, string>> {
  const rows = await store.query<{ name: string; create_table_query: string }>(
    `SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase()
     AND name IN (${RETAINED_TABLES.map((t) => `'${t.table}'`).join(', ')})`,
  );
  return Object.fromEntries(rows.map((r) => [r.name, /TTL .*?toIntervalDay\((\d+)\)/.exec(r.create_table_query)?.[1] ?? `no TTL in: ${r.create_table_query}`]));
}

/** Every migration, in order: 1 .. the latest. */
const ALL_VERSIONS = Array.from({ length: LATEST_SCHEMA_VERSION }, (_, i) => i + 1);

const everyTable = (days: number) => Object.fromEntries(RETAINED_TABLES.map((t) => [t.table, String(days)]));

// ---- the contract ----

/** Registers the contract's tests for one backend; `skip` (a reason) registers them as skipped. */
export function storageContract(label: string, backend: ContractBackend | { skip: string }): void {
  const skip = 'skip' in backend ? backend.skip : undefined;
  describe(`storage contract: ${label}`, { skip }, () => {
    let store: ClickHouseStore;
    let reader: TraceReader;
    const window = { startUnixNano: NOW - 3600n * SECOND, endUnixNano: NOW + 60n * SECOND };

    before(async () => {
      if ('skip' in backend) return;
      store = await backend.open();
      reader = new TraceReader(store);
    });
    after(async () => {
      if ('skip' in backend) return;
      await store?.close();
      await backend.cleanup?.();
    });

    it('migrate on an empty database applies every version in order and records each', async () => {
      assert.deepEqual(await migrate(store, { retentionDays: 7 }), { applied: ALL_VERSIONS });
      const recorded = await store.query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version');
      assert.deepEqual(recorded.map((r) => Number(r.version)), ALL_VERSIONS);
      const projections = await store.query<{ name: string }>(`SELECT name FROM system.projections WHERE database = currentDatabase() AND table = 'spans'`);
      assert.deepEqual(projections.map((p) => p.name), ['by_trace'], 'spans carries its trace-ordered projection');
      const indexes = await store.query<{ name: string }>(`SELECT name FROM system.data_skipping_indices WHERE database = currentDatabase() AND table = 'spans'`);
      assert.ok(!indexes.some((i) => i.name === 'idx_trace_id'), 'the bloom filter the projection replaced is gone');
      const tables = await store.query<{ name: string }>('SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name');
      for (const table of ['spans_ingest', 'spans', 'spans_ingest_mv', 'trace_index', 'trace_index_mv', 'operations', 'operations_mv', 'edges_1m', 'edges_1h', 'edges_1h_mv', 'schema_migrations']) {
        assert.ok(tables.some((t) => t.name === table), `table ${table} exists`);
      }
      assert.deepEqual(await ttlDays(store), everyTable(7), 'every data table keeps 7 days');
    });

    it('migrate again applies nothing and records nothing twice', async () => {
      assert.deepEqual(await migrate(store, { retentionDays: 7 }), { applied: [] });
      const recorded = await store.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      assert.deepEqual(recorded.map((r) => Number(r.version)), ALL_VERSIONS);
    });

    it('query returns 64-bit integers as strings, exactly', async () => {
      const [row] = await store.query<{ big: unknown; negative: unknown }>('SELECT toUInt64(18446744073709551615) AS big, toInt64(-9007199254740993) AS negative');
      assert.deepEqual(row, { big: '18446744073709551615', negative: '-9007199254740993' });
    });

    it('queryEach hands every row over in order, as its columns, strings and arrays intact', async () => {
      const rows: unknown[][] = [];
      await store.queryEach(
        `SELECT number AS n, toUInt64(number) * 1000000000000 AS big, if(number = 2, 'line\\nbreak "quoted" é', toString(number)) AS text,
           range(number % 3) AS list FROM numbers(20000) ORDER BY n`,
        (columns) => rows.push(columns),
      );
      assert.equal(rows.length, 20000);
      assert.deepEqual(rows[2], ['2', '2000000000000', 'line\nbreak "quoted" é', [0, 1]]);
      assert.deepEqual(rows[19999], ['19999', '19999000000000000', '19999', [0]]);
      assert.ok(rows.every((row, i) => row[0] === String(i)));
      let none = 0;
      await store.queryEach('SELECT 1 AS one WHERE 0', () => none++);
      assert.equal(none, 0);
      await assert.rejects(store.queryEach('SELECT no_such_column FROM numbers(1)', () => {}), /no_such_column/);
    });

    it('spans exported through the SpanExporter are stored (acknowledged only once written)', async () => {
      const exporter = new SpanExporter(store, new CollectorMetrics({ processMetrics: false }), { maxBatchRows: 1000, maxDelayMs: 20, maxQueuedBytes: 1 << 24 });
      // Three requests at once, as receivers would send them: one insert or several, all must land.
      await Promise.all([exporter.export(checkout), exporter.export(home), exporter.export(slow)]);
      // Acknowledged means readable now: no wait, no retry.
      const [count] = await store.query<{ n: string }>('SELECT count() AS n FROM spans');
      assert.equal(count!.n, String(checkout.length + home.length + slow.length));
      await exporter.close();
    });

    it('a trace comes back whole by id, every field as written', async () => {
      const got = await reader.trace(TRACE_CHECKOUT);
      assert.deepEqual(normalised(got), checkout.map(expectedReadSpan), 'oldest first, nothing lost or changed');
    });

    it('several traces at once; an unknown id gives nothing', async () => {
      const got = await reader.traces([TRACE_HOME, TRACE_SLOW, UNKNOWN_TRACE]);
      assert.deepEqual([...got.keys()].sort(), [TRACE_HOME, TRACE_SLOW]);
      assert.deepEqual(normalised(got.get(TRACE_HOME)!), home.map(expectedReadSpan));
      assert.deepEqual(normalised(got.get(TRACE_SLOW)!), slow.map(expectedReadSpan));
      assert.deepEqual(await reader.trace(UNKNOWN_TRACE), []);
      assert.deepEqual(await reader.trace(TRACE_CHECKOUT, { startUnixNano: NOW - 10n * SECOND }), [], 'a window after the trace');
    });

    it('services and operations', async () => {
      assert.deepEqual(await reader.services(), ['frontend', 'payments']);
      assert.deepEqual(await reader.operations('payments'), [{ name: 'charge', kind: 2 }]);
      assert.deepEqual(await reader.operations('frontend'), [
        { name: 'GET /', kind: 2 },
        { name: 'POST /checkout', kind: 2 },
        { name: 'payment', kind: 3 },
      ]);
      assert.deepEqual(await reader.operations('frontend', 3), [{ name: 'payment', kind: 3 }]);
      assert.deepEqual(await reader.operations('nobody'), []);
    });

    it('search: filters include what matches and exclude what does not, newest first', async () => {
      const search = (q: Partial<Parameters<TraceReader['searchTraceIds']>[0]>) => reader.searchTraceIds({ ...window, limit: 100, ...q });
      assert.deepEqual(await search({}), [TRACE_HOME, TRACE_CHECKOUT, TRACE_SLOW]);
      assert.deepEqual(await search({ service: 'payments' }), [TRACE_CHECKOUT, TRACE_SLOW]);
      assert.deepEqual(await search({ service: 'frontend', operation: 'charge' }), []);
      assert.deepEqual(await search({ tags: { 'payment.method': 'card' } }), [TRACE_CHECKOUT]);
      assert.deepEqual(await search({ tags: { note: 'quote " backslash \\ newline \n tab \t unicode é ✓ 🚀' } }), [TRACE_CHECKOUT], 'hard characters match exactly');
      assert.deepEqual(await search({ tags: { 'amount.cents': '9007199254740993' } }), [TRACE_CHECKOUT], 'a 64-bit value beyond 2^53 matches as text');
      assert.deepEqual(await search({ tags: { error: 'true' } }), [TRACE_CHECKOUT]);
      assert.deepEqual(await search({ tags: { 'service.version': '2.0.1' } }), [TRACE_CHECKOUT, TRACE_SLOW], 'resource attribute');
      assert.deepEqual(await search({ tags: { 'k8s.namespace.name': 'shop' }, service: 'frontend' }), [TRACE_HOME, TRACE_CHECKOUT]);
      assert.deepEqual(await search({ tags: { 'k8s.namespace.name': 'other' } }), []);
      assert.deepEqual(await search({ minDurationNanos: SECOND }), [TRACE_SLOW]);
      assert.deepEqual(await search({ maxDurationNanos: 70n * MS }), [TRACE_HOME, TRACE_CHECKOUT], 'the 70 ms charge span, and the 3 ms home');
      // The charge span lasts 70 ms - 7 ns: both bounds are inclusive, to the nanosecond.
      assert.deepEqual(await search({ maxDurationNanos: 70n * MS - 7n, service: 'payments' }), [TRACE_CHECKOUT]);
      assert.deepEqual(await search({ maxDurationNanos: 70n * MS - 8n, service: 'payments' }), []);
      assert.deepEqual(await search({ minDurationNanos: 70n * MS - 7n, service: 'payments' }), [TRACE_CHECKOUT, TRACE_SLOW]);
      assert.deepEqual(await search({ minDurationNanos: 70n * MS - 6n, service: 'payments' }), [TRACE_SLOW]);
      assert.deepEqual(await search({ startUnixNano: NOW - 90n * SECOND }), [TRACE_HOME, TRACE_CHECKOUT], 'the slow trace is before the window');
      assert.deepEqual(await search({ endUnixNano: NOW - 45n * SECOND }), [TRACE_CHECKOUT, TRACE_SLOW], 'the home trace is after the window');
      assert.deepEqual(await search({ limit: 1 }), [TRACE_HOME]);
      assert.deepEqual(await search({ service: "payments' OR '1'='1" }), [], 'quotes stay inside the value');
    });

    it('storage refuses a malformed insert with an error', async () => {
      await assert.rejects(store.insert('spans_ingest', SPAN_INGEST_COLUMNS, Buffer.from('["not", "a", "span"]\n')));
      const [count] = await store.query<{ n: string }>('SELECT count() AS n FROM spans');
      assert.equal(count!.n, String(checkout.length + home.length + slow.length), 'nothing half-written');
    });

    it('a retention change (7 days → 3) changes every data table TTL and keeps the data', async () => {
      assert.deepEqual(await migrate(store, { retentionDays: 3 }), { applied: [] });
      assert.deepEqual(await ttlDays(store), everyTable(3));
      assert.equal((await reader.trace(TRACE_CHECKOUT)).length, checkout.length, 'recent data survives the new TTL');
      // A longer retention whose digits start with the old one's (3 → 30) is a change too.
      await migrate(store, { retentionDays: 30 });
      assert.deepEqual(await ttlDays(store), everyTable(30));
    });
  });
}
