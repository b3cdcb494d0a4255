// The schema, as an ordered list of versioned migrations applied at start-up. Every statement is
// idempotent (IF NOT EXISTS), and the applied versions are recorded in `schema_migrations`, so a
// restart, or two processes starting against one server, apply each version once and harmlessly.
// Why the tables look the way they do: docs/storage.md.
import type { ClickHouseStore } from './store.ts';
import { sqlInt, sqlString } from './store.ts';

export interface SchemaOptions {
  /** Days to keep data: becomes every table's TTL. */
  retentionDays: number;
}

interface Migration {
  version: number;
  name: string;
  statements: (options: SchemaOptions) => string[];
}

/** Tables that hold data and therefore carry the retention TTL; the expression is their day column. */
export const RETAINED_TABLES: ReadonlyArray<{ table: string; day: string }> = [
  { table: 'spans', day: 'toDate(ts)' },
  { table: 'trace_index', day: 'day' },
  { table: 'operations', day: 'day' },
  { table: 'edges_1m', day: 'toDate(minute)' },
  { table: 'edges_1h', day: 'toDate(hour)' },
  { table: 'edges_10m', day: 'toDate(ten_minute)' },
  { table: 'edges_10m_parts', day: 'toDate(minute)' },
  { table: 'operations_1m', day: 'toDate(minute)' },
  { table: 'logs', day: 'toDate(ts)' },
  { table: 'metrics', day: 'toDate(ts)' },
];

/** Columns of `graph_halves` the graph writer sends (stored_at is the server's clock). */
export const LEFTOVER_COLUMNS = ['trace_id', 'half', 'emitted', 'closed_by'] as const;

/** Columns of `edges_1m` in the order the graph writer encodes them. */
export const EDGE_COLUMNS = [
  'minute',
  'source_id',
  'source_name',
  'source_namespace',
  'source_version',
  'source_kind',
  'target_id',
  'target_name',
  'target_namespace',
  'target_version',
  'target_kind',
  'protocol',
  'signal',
  'requests',
  'errors',
  'mtls_yes',
  'mtls_no',
  'latency',
  'exemplars',
  'request_bytes',
  'response_bytes',
] as const;

/** Columns of `operations_1m` in the order the graph writer encodes them. */
export const OPERATION_COLUMNS = [
  'minute',
  'service_id',
  'service_name',
  'service_namespace',
  'service_version',
  'operation',
  'signal',
  'requests',
  'errors',
  'latency',
  'exemplars',
] as const;

const ttl = (day: string, o: SchemaOptions) => `TTL ${day} + INTERVAL ${sqlInt(o.retentionDays)} DAY`;

/** Columns of `spans_ingest`, in the order the span writer encodes them. */
export const SPAN_INGEST_COLUMNS = [
  'trace_id',
  'span_id',
  'parent_span_id',
  'trace_state',
  'service',
  'namespace',
  'name',
  'kind',
  'start_ns',
  'duration_ns',
  'status_code',
  'status_message',
  'flags',
  'attributes',
  'attribute_types',
  'resource_attributes',
  'resource_types',
  'scope_name',
  'scope_version',
  'events',
  'links',
  'dropped_counts',
] as const;

/** A side of an edge's names, any row's (they are what the node's id is made of). */
const nameColumns = (side: 'source' | 'target') => `
  ${side}_name SimpleAggregateFunction(any, LowCardinality(String)),
  ${side}_namespace SimpleAggregateFunction(any, LowCardinality(String)),
  ${side}_version SimpleAggregateFunction(any, LowCardinality(String)),`;

/**
 * The columns of the edge tables (edges_1m, edges_10m, edges_1h); `time` names the period's start. Without
 * `names`, only what the graph's counts are read from (edges_10m_parts: no names, no exemplars).
 */
const edgeColumns = (time: string, names = true) => `
  ${time} DateTime CODEC(Delta, ZSTD(1)),
  source_id LowCardinality(String), target_id LowCardinality(String),${names ? nameColumns('source') : ''}
  source_kind SimpleAggregateFunction(min, UInt8),${names ? nameColumns('target') : ''}
  target_kind SimpleAggregateFunction(min, UInt8),
  protocol LowCardinality(String), signal LowCardinality(String),
  requests SimpleAggregateFunction(sum, Float64),
  errors SimpleAggregateFunction(sum, Float64),
  mtls_yes SimpleAggregateFunction(sum, Float64),
  mtls_no SimpleAggregateFunction(sum, Float64),
  latency SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(Float64)))${names ? `,
  exemplars SimpleAggregateFunction(any, Array(String))` : ''}`;

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'spans, trace index, operations',
    statements: (o) => [
      // Receivers write here. A Null table stores nothing: its materialized view converts hex ids to
      // binary and nanoseconds to DateTime64 on the way into `spans`, so the writer can send plain JSON.
      `CREATE TABLE IF NOT EXISTS spans_ingest (
        trace_id String, span_id String, parent_span_id String, trace_state String,
        service String, namespace String, name String, kind UInt8,
        start_ns Int64, duration_ns UInt64, status_code UInt8, status_message String, flags UInt32,
        attributes Map(String, String), attribute_types Map(String, String),
        resource_attributes Map(String, String), resource_types Map(String, String),
        scope_name String, scope_version String, events String, links String,
        dropped_counts Array(UInt32)
      ) ENGINE = Null`,
      `CREATE TABLE IF NOT EXISTS spans (
        ts DateTime64(9) CODEC(Delta, ZSTD(1)),
        trace_id FixedString(16) CODEC(ZSTD(1)),
        span_id FixedString(8) CODEC(ZSTD(1)),
        parent_span_id FixedString(8) CODEC(ZSTD(1)),
        trace_state String CODEC(ZSTD(1)),
        service LowCardinality(String) CODEC(ZSTD(1)),
        namespace LowCardinality(String) CODEC(ZSTD(1)),
        name LowCardinality(String) CODEC(ZSTD(1)),
        kind UInt8 CODEC(ZSTD(1)),
        duration_ns UInt64 CODEC(T64, ZSTD(1)),
        status_code UInt8 CODEC(ZSTD(1)),
        status_message String CODEC(ZSTD(1)),
        flags UInt32 CODEC(ZSTD(1)),
        attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
        attribute_types Map(LowCardinality(String), LowCardinality(String)) CODEC(ZSTD(1)),
        resource_attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
        resource_types Map(LowCardinality(String), LowCardinality(String)) CODEC(ZSTD(1)),
        scope_name LowCardinality(String) CODEC(ZSTD(1)),
        scope_version LowCardinality(String) CODEC(ZSTD(1)),
        events String CODEC(ZSTD(1)),
        links String CODEC(ZSTD(1)),
        dropped_counts Array(UInt32) CODEC(ZSTD(1)),
        INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1,
        INDEX idx_duration duration_ns TYPE minmax GRANULARITY 1
      ) ENGINE = MergeTree
      PARTITION BY toDate(ts)
      ORDER BY (service, name, toDateTime(ts))
      ${ttl('toDate(ts)', o)}
      -- 2048-row granules (not 8192): a trace fetch decompresses one granule per trace, so smaller
      -- granules make a page of 20 traces ~2x faster for ~2 % more disk (docs/storage.md).
      SETTINGS ttl_only_drop_parts = 1, index_granularity = 2048`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS spans_ingest_mv TO spans AS
      SELECT
        fromUnixTimestamp64Nano(start_ns) AS ts,
        unhex(trace_id) AS trace_id, unhex(span_id) AS span_id,
        if(parent_span_id = '', toFixedString('\\0\\0\\0\\0\\0\\0\\0\\0', 8), unhex(parent_span_id)) AS parent_span_id,
        trace_state, service, namespace, name, kind, duration_ns, status_code, status_message, flags,
        attributes, attribute_types, resource_attributes, resource_types, scope_name, scope_version,
        events, links, dropped_counts
      FROM spans_ingest`,
      // Trace id -> time bounds, so a trace fetch reads only the partitions and granules it needs.
      // Day-partitioned so TTL drops it whole, like the spans.
      `CREATE TABLE IF NOT EXISTS trace_index (
        day Date,
        trace_id FixedString(16) CODEC(ZSTD(1)),
        start SimpleAggregateFunction(min, DateTime64(9)),
        end SimpleAggregateFunction(max, DateTime64(9)),
        spans SimpleAggregateFunction(sum, UInt64),
        errors SimpleAggregateFunction(sum, UInt64)
      ) ENGINE = AggregatingMergeTree
      PARTITION BY day
      ORDER BY trace_id
      ${ttl('day', o)}
      SETTINGS ttl_only_drop_parts = 1`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS trace_index_mv TO trace_index AS
      SELECT toDate(ts) AS day, trace_id,
        min(ts) AS start, max(ts + toIntervalNanosecond(duration_ns)) AS end,
        count() AS spans, countIf(status_code = 2) AS errors
      FROM spans GROUP BY day, trace_id`,
      // The service and operation lists, without scanning spans.
      `CREATE TABLE IF NOT EXISTS operations (
        day Date,
        service LowCardinality(String),
        name LowCardinality(String),
        kind UInt8,
        spans SimpleAggregateFunction(sum, UInt64)
      ) ENGINE = AggregatingMergeTree
      PARTITION BY day
      ORDER BY (service, name, kind)
      ${ttl('day', o)}
      SETTINGS ttl_only_drop_parts = 1`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS operations_mv TO operations AS
      SELECT toDate(ts) AS day, service, name, kind, count() AS spans
      FROM spans GROUP BY day, service, name, kind`,
    ],
  },
  {
    version: 2,
    name: 'trace-ordered projection of spans',
    statements: () => [
      // A second copy of every span inside each part, ordered by trace id: fetching a trace becomes a
      // primary-key lookup of one or two granules instead of a bloom-filter hunt through a table
      // ordered for search, where each of the trace's spans sits in a different granule (measured at
      // 10 M spans: ~300 ms for 20 traces vs ~40 ms, ~30-100 ms for one vs ~10). It costs about as
      // much disk again as the spans themselves; see docs/storage.md. `SELECT *` is expanded when the
      // projection is created: a migration that adds a column to spans must rebuild it.
      `ALTER TABLE spans ADD PROJECTION IF NOT EXISTS by_trace (SELECT * ORDER BY trace_id)`,
      // Parts written before this migration get the projection in the background.
      `ALTER TABLE spans MATERIALIZE PROJECTION by_trace`,
      // The bloom filter on trace_id only served trace fetches, which the projection now answers.
      `ALTER TABLE spans DROP INDEX IF EXISTS idx_trace_id`,
    ],
  },
  {
    version: 3,
    name: 'service graph: per-minute and per-hour edge rollups',
    statements: (o) => {
      // One row per (minute, caller, callee, protocol, signal) and insert; AggregatingMergeTree folds
      // rows of the same key: sums, and the latency histogram as per-bucket sums (sumMap over the
      // fixed bucket indexes of collector/service-graph/histogram.ts), so rows from any process,
      // minute or signal merge exactly. Counts are Float64: sampled spans carry fractional weights.
      // A node's kind is stored as a rank (service 0, database 1, messaging 2, virtual 3, unknown 4)
      // merged with min: a node some signal knows as a real service is not a virtual guess.
      return [
        `CREATE TABLE IF NOT EXISTS edges_1m (${edgeColumns('minute')}) ENGINE = AggregatingMergeTree
        PARTITION BY toDate(minute)
        ORDER BY (minute, source_id, target_id, protocol, signal)
        ${ttl('toDate(minute)', o)}
        SETTINGS ttl_only_drop_parts = 1`,
        `CREATE TABLE IF NOT EXISTS edges_1h (${edgeColumns('hour')}) ENGINE = AggregatingMergeTree
        PARTITION BY toDate(hour)
        ORDER BY (hour, source_id, target_id, protocol, signal)
        ${ttl('toDate(hour)', o)}
        SETTINGS ttl_only_drop_parts = 1`,
        `CREATE MATERIALIZED VIEW IF NOT EXISTS edges_1h_mv TO edges_1h AS
        SELECT toStartOfHour(minute) AS hour, * EXCEPT (minute) FROM edges_1m`,
      ];
    },
  },
  {
    version: 4,
    name: 'service graph: leftover halves and the storage pass that re-pairs them',
    statements: () => [
      // Halves a closing trace could not pair (collector/service-graph/reconcile.ts), kept for the
      // storage pass. It reads the rows stored in its window, then every leftover of those traces:
      // the key serves both (a 15-minute slice of stored_at, then trace_id). Only needed for
      // graph.late_window (at most a day), hence the short TTL regardless of retention.
      `CREATE TABLE IF NOT EXISTS graph_halves (
        trace_id String CODEC(ZSTD(1)),
        half String CODEC(ZSTD(1)),
        emitted LowCardinality(String),
        closed_by LowCardinality(String),
        stored_at DateTime64(3) DEFAULT now64(3) CODEC(Delta, ZSTD(1))
      ) ENGINE = MergeTree
      PARTITION BY toDate(stored_at)
      ORDER BY (toStartOfFifteenMinutes(stored_at), trace_id)
      TTL toDate(stored_at) + INTERVAL 2 DAY
      SETTINGS ttl_only_drop_parts = 1`,
      // One row per claim of a window and one when its run is done: collectors sharing a server elect
      // the earliest claim (by the server's clock) as the one that runs the window.
      `CREATE TABLE IF NOT EXISTS graph_reconcile_runs (
        window_end DateTime64(3),
        runner String,
        claimed_at DateTime64(3) DEFAULT now64(3),
        done UInt8 DEFAULT 0,
        added UInt32 DEFAULT 0,
        retracted UInt32 DEFAULT 0
      ) ENGINE = MergeTree
      ORDER BY (window_end, claimed_at)
      TTL toDate(window_end) + INTERVAL 7 DAY`,
    ],
  },
  {
    version: 5,
    name: 'latency by operation: per-minute rows of what each service served',
    statements: (o) => [
      // One row per (service, operation = span name, minute, signal) and insert, folded like edges_1m:
      // sums, and the latency histogram as per-bucket sums over histogram.ts's fixed indexes.
      // Every query selects one service (by id or name) and reads a window of its minutes, so the key
      // starts with the service: its rows are contiguous. Measured (scratch/operations-key.ts, chDB,
      // 100 services x 20 operations, every minute of a day busy, 2.88 M rows): one operation's
      // histogram over 24 h took 8-17 ms with this key against 180-220 ms with minute first (as in
      // edges_1m), whose matching rows sit in every granule; a service's operation list over 24 h
      // 50-85 ms against 235-375 ms; 15 min and 1 h windows 5-60 ms either way. Minute rows answer a
      // day fast enough, so there is no hourly rollup.
      `CREATE TABLE IF NOT EXISTS operations_1m (
        minute DateTime CODEC(Delta, ZSTD(1)),
        service_id LowCardinality(String),
        service_name SimpleAggregateFunction(any, LowCardinality(String)),
        service_namespace SimpleAggregateFunction(any, LowCardinality(String)),
        service_version SimpleAggregateFunction(any, LowCardinality(String)),
        operation LowCardinality(String),
        signal LowCardinality(String),
        requests SimpleAggregateFunction(sum, Float64),
        errors SimpleAggregateFunction(sum, Float64),
        latency SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(Float64))),
        exemplars SimpleAggregateFunction(any, Array(String))
      ) ENGINE = AggregatingMergeTree
      PARTITION BY toDate(minute)
      ORDER BY (service_id, operation, minute, signal)
      ${ttl('toDate(minute)', o)}
      SETTINGS ttl_only_drop_parts = 1`,
    ],
  },
  {
    version: 6,
    name: 'service graph: 10-minute edge rollup',
    statements: (o) => [
      // A window's whole hours come from edges_1h, its whole ten-minute blocks from here, only the
      // rest from edges_1m (query/service-graph.ts): a 1 h window not aligned to the hour reads ~16
      // rows per edge instead of 61 (bench:graph, 5,000 edges: 300k rows down to 80k; docs/performance.md).
      // Filled like edges_1h, by a materialized view over edges_1m's inserts; measured on a 5,000-row
      // insert, the view's cost is within the noise.
      `CREATE TABLE IF NOT EXISTS edges_10m (${edgeColumns('ten_minute')}) ENGINE = AggregatingMergeTree
      PARTITION BY toDate(ten_minute)
      ORDER BY (ten_minute, source_id, target_id, protocol, signal)
      ${ttl('toDate(ten_minute)', o)}
      SETTINGS ttl_only_drop_parts = 1`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS edges_10m_mv TO edges_10m AS
      SELECT toStartOfTenMinutes(minute) AS ten_minute, * EXCEPT (minute) FROM edges_1m`,
      // The view only sees inserts made after it exists, so on a store that already has edge rows the
      // rollup is complete only from a little after now (the margin covers rows written for minutes
      // ahead of the clock); reads use minute rows before that. On an empty store it is complete.
      `CREATE TABLE IF NOT EXISTS rollup_coverage (
        rollup LowCardinality(String),
        complete_from DateTime
      ) ENGINE = ReplacingMergeTree(complete_from) ORDER BY rollup`,
      `INSERT INTO rollup_coverage (rollup, complete_from)
      SELECT 'edges_10m', if(count() = 0, toDateTime(0), toStartOfTenMinutes(now()) + INTERVAL 20 MINUTE) FROM edges_1m`,
    ],
  },
  {
    version: 7,
    name: 'service graph: request and response bytes on edge rows',
    statements: () => [
      // Bytes where a signal knows them (span body-size attributes, access logs, byte counters), summed like
      // requests. The rollup views were created with the columns edges_1m had then (a view's SELECT * is
      // expanded when it is made), so they are made again to carry the new ones.
      ...['edges_1m', 'edges_10m', 'edges_1h'].flatMap((table) => [
        `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS request_bytes SimpleAggregateFunction(sum, Float64) DEFAULT 0`,
        `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS response_bytes SimpleAggregateFunction(sum, Float64) DEFAULT 0`,
      ]),
      'DROP VIEW IF EXISTS edges_1h_mv',
      `CREATE MATERIALIZED VIEW IF NOT EXISTS edges_1h_mv TO edges_1h AS
      SELECT toStartOfHour(minute) AS hour, * EXCEPT (minute) FROM edges_1m`,
      'DROP VIEW IF EXISTS edges_10m_mv',
      `CREATE MATERIALIZED VIEW IF NOT EXISTS edges_10m_mv TO edges_10m AS
      SELECT toStartOfTenMinutes(minute) AS ten_minute, * EXCEPT (minute) FROM edges_1m`,
    ],
  },
  {
    version: 8,
    name: 'OTLP logs and metrics',
    statements: (o) => [
      // Every OTLP log record (collector/otlp/logs.ts). Read by time and service, or by trace id (a
      // trace's logs): the key serves the first, the bloom filter the second.
      `CREATE TABLE IF NOT EXISTS logs (
        ts DateTime64(9) CODEC(Delta, ZSTD(1)),
        observed_ts DateTime64(9) CODEC(Delta, ZSTD(1)),
        trace_id String CODEC(ZSTD(1)),
        span_id String CODEC(ZSTD(1)),
        flags UInt32 CODEC(ZSTD(1)),
        severity_number UInt8 CODEC(ZSTD(1)),
        severity_text LowCardinality(String) CODEC(ZSTD(1)),
        body String CODEC(ZSTD(1)),
        event_name LowCardinality(String) CODEC(ZSTD(1)),
        attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
        resource_attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
        service LowCardinality(String) CODEC(ZSTD(1)),
        namespace LowCardinality(String) CODEC(ZSTD(1)),
        scope_name LowCardinality(String) CODEC(ZSTD(1)),
        INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1
      ) ENGINE = MergeTree
      PARTITION BY toDate(ts)
      ORDER BY (service, toDateTime(ts))
      ${ttl('toDate(ts)', o)}
      SETTINGS ttl_only_drop_parts = 1`,
      // One row per OTLP data point (collector/otlp/metrics.ts), read as a series over time: name
      // first, then the service that sent it.
      `CREATE TABLE IF NOT EXISTS metrics (
        ts DateTime64(9) CODEC(Delta, ZSTD(1)),
        start_ts DateTime64(9) CODEC(Delta, ZSTD(1)),
        name LowCardinality(String) CODEC(ZSTD(1)),
        type LowCardinality(String) CODEC(ZSTD(1)),
        unit LowCardinality(String) CODEC(ZSTD(1)),
        temporality LowCardinality(String) CODEC(ZSTD(1)),
        monotonic UInt8 CODEC(ZSTD(1)),
        attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
        resource_attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
        service LowCardinality(String) CODEC(ZSTD(1)),
        namespace LowCardinality(String) CODEC(ZSTD(1)),
        scope_name LowCardinality(String) CODEC(ZSTD(1)),
        value Float64 CODEC(ZSTD(1)),
        count UInt64 CODEC(T64, ZSTD(1)),
        sum Float64 CODEC(ZSTD(1)),
        bounds Array(Float64) CODEC(ZSTD(1)),
        bucket_counts Array(UInt64) CODEC(ZSTD(1)),
        quantiles Array(Float64) CODEC(ZSTD(1)),
        quantile_values Array(Float64) CODEC(ZSTD(1)),
        flags UInt32 CODEC(ZSTD(1))
      ) ENGINE = MergeTree
      PARTITION BY toDate(ts)
      ORDER BY (name, service, toDateTime(ts))
      ${ttl('toDate(ts)', o)}
      SETTINGS ttl_only_drop_parts = 1`,
    ],
  },
  {
    version: 9,
    name: 'service graph: the parts of ten-minute blocks',
    statements: (o) => [
      // A window rarely starts or ends on a ten-minute boundary: its first and last blocks are partial, and
      // read minute by minute they were most of a 1 h window's rows (11 of 16 per edge). Here each minute
      // also stands for the two parts of its block it splits off: 'start_to_minute' sums the block from its
      // start through this minute (a window's last, partial block), 'minute_to_end' from this minute through
      // the block's end (its first). The whole blocks are here too ('block', at the block's start: what
      // edges_10m holds), so that a window reads one table: at most one row per edge for each partial block,
      // one per whole block (bench:graph, 5,000 edges: 80k rows from three tables down to 35k from one;
      // docs/performance.md). A minute row feeds up to ten of these, written by the view below as edges_1m
      // is inserted. Only what the graph's counts are read from is kept: names come from edges_1h, and
      // exemplars would be half the table's bytes.
      `CREATE TABLE IF NOT EXISTS edges_10m_parts (
        part Enum8('start_to_minute' = 1, 'minute_to_end' = 2, 'block' = 3),
        ${edgeColumns('minute', false)},
        request_bytes SimpleAggregateFunction(sum, Float64),
        response_bytes SimpleAggregateFunction(sum, Float64)
      ) ENGINE = AggregatingMergeTree
      PARTITION BY toDate(minute)
      ORDER BY (part, minute, source_id, target_id, protocol, signal)
      ${ttl('toDate(minute)', o)}
      SETTINGS ttl_only_drop_parts = 1`,
      // Minute m at offset k (0..9) of its block is in the 'start_to_minute' parts ending at offsets k..8, the
      // 'minute_to_end' parts starting at offsets 1..k, and its 'block'. (The part ending at offset 9 and the
      // one starting at 0 would be the whole block again.)
      `CREATE MATERIALIZED VIEW IF NOT EXISTS edges_10m_parts_mv TO edges_10m_parts AS
      SELECT part, part_minute AS minute, source_id, target_id, source_kind, target_kind, protocol, signal,
        requests, errors, mtls_yes, mtls_no, latency, request_bytes, response_bytes
      FROM (
        SELECT *, picked.1 AS part, toStartOfTenMinutes(minute) + 60 * picked.2 AS part_minute
        FROM edges_1m
        ARRAY JOIN arrayConcat(
          arrayMap(offset -> tuple(toInt8(1), offset), range(intDiv(toUInt32(minute) - toUInt32(toStartOfTenMinutes(minute)), 60), 9)),
          arrayMap(offset -> tuple(toInt8(2), offset), range(1, intDiv(toUInt32(minute) - toUInt32(toStartOfTenMinutes(minute)), 60) + 1)),
          [tuple(toInt8(3), 0)]
        ) AS picked
      )`,
      `INSERT INTO rollup_coverage (rollup, complete_from)
      SELECT 'edges_10m_parts', if(count() = 0, toDateTime(0), toStartOfTenMinutes(now()) + INTERVAL 20 MINUTE) FROM edges_1m`,
    ],
  },
];

export const LATEST_SCHEMA_VERSION = Math.max(...MIGRATIONS.map((m) => m.version));
// Two changes written side by side must not claim one version number: each runs once, by number.
if (new Set(MIGRATIONS.map((m) => m.version)).size !== MIGRATIONS.length) throw new Error('schema.ts: two migrations share a version number');

/** Brings the database up to the latest schema and the configured retention. Safe to run every start. */
export async function migrate(store: ClickHouseStore, options: SchemaOptions): Promise<{ applied: number[] }> {
  await store.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32, name String, applied_at DateTime DEFAULT now()
  ) ENGINE = ReplacingMergeTree ORDER BY version`);
  const done = new Set(
    (await store.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)),
  );
  const applied: number[] = [];
  for (const migration of [...MIGRATIONS].sort((a, b) => a.version - b.version)) {
    if (done.has(migration.version)) continue;
    for (const statement of migration.statements(options)) await store.exec(statement);
    await store.exec(
      `INSERT INTO schema_migrations (version, name) VALUES (${sqlInt(migration.version)}, ${sqlString(migration.name)})`,
    );
    applied.push(migration.version);
  }
  await applyRetention(store, options);
  return { applied };
}

/** Changes each table's TTL when `storage.retention` changed since the table was created. */
async function applyRetention(store: ClickHouseStore, options: SchemaOptions): Promise<void> {
  const rows = await store.query<{ name: string; create_table_query: string }>(
    `SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase()
     AND name IN (${RETAINED_TABLES.map((t) => sqlString(t.table)).join(', ')})`,
  );
  for (const { table, day } of RETAINED_TABLES) {
    const ddl = rows.find((r) => r.name === table)?.create_table_query ?? '';
    if (ddl.includes(`toIntervalDay(${options.retentionDays})`)) continue;
    await store.exec(`ALTER TABLE ${table} MODIFY ${ttl(day, options)}`);
  }
}
