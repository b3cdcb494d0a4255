// Latency and RED over time for a service (the calls it served), one operation of a service, or one
// edge, from the service graph's per-minute rows (edges_1m; operations_1m for an operation):
// GET /api/v1/latency, /api/v1/latency/heatmap, /api/v1/red; and a service's operations with their
// figures: GET /api/v1/operations. Over all signals, each edge counts from its most complete signal, as the
// service graph counts it, so the numbers here and there agree.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { DEFAULT_DISPLAY_BOUNDS_MS, LatencyHistogram } from '../collector/service-graph/histogram.ts';
import { type ClickHouseStore, sqlInt, sqlString } from '../collector/storage/store.ts';
import { SIGNALS, SIGNAL_PREFERENCE, parseTime } from './service-graph.ts';

const Selector = {
  start: Type.Optional(Type.String()),
  end: Type.Optional(Type.String()),
  service: Type.Optional(Type.String({ minLength: 1 })),
  operation: Type.Optional(Type.String()),
  source: Type.Optional(Type.String({ minLength: 1 })),
  target: Type.Optional(Type.String({ minLength: 1 })),
  signal: Type.Optional(Type.Union(SIGNALS.map((s) => Type.Literal(s)))),
};
const WithStep = { ...Selector, step: Type.Optional(Type.String({ pattern: '^[0-9]+(s|m|h)?$' })) };

interface SelectorQuery {
  start?: string | undefined;
  end?: string | undefined;
  service?: string | undefined;
  operation?: string | undefined;
  source?: string | undefined;
  target?: string | undefined;
  signal?: (typeof SIGNALS)[number] | undefined;
}

const badRequest = (message: string) => Object.assign(new Error(message), { statusCode: 400 });

/** The query window, and the WHERE clause over its minutes (edges_1m and operations_1m alike). */
function timeWindow(q: { start?: string | undefined; end?: string | undefined }): { startMs: number; endMs: number; where: string[] } {
  const endMs = parseTime(q.end, 'end', Date.now());
  const startMs = parseTime(q.start, 'start', endMs - 15 * 60_000);
  if (startMs >= endMs) throw badRequest('start must be before end');
  const where = [`minute >= toStartOfMinute(toDateTime(${sqlInt(Math.floor(startMs / 1000))}))`, `minute <= toDateTime(${sqlInt(Math.floor(endMs / 1000))})`];
  return { startMs, endMs, where };
}

/** A service given by node id or by name (every version and namespace of that name), in operations_1m. */
const servedBy = (service: string) => `(service_id = ${sqlString(service)} OR service_name = ${sqlString(service)})`;

/** The window, and the rows a selector reads as `FROM <rows>` (a table with its WHERE clause). */
function selection(q: SelectorQuery): { startMs: number; endMs: number; rows: string } {
  const { startMs, endMs, where } = timeWindow(q);
  let table: 'edges_1m' | 'operations_1m' = 'edges_1m';
  if (q.operation) {
    // Operations are span names of what a service served: an edge has none.
    if (!q.service) throw badRequest('operation needs service: an operation is a span name of the service that served it');
    if (q.source || q.target) throw badRequest('select either service (+ operation), or source and target');
    table = 'operations_1m';
    where.push(servedBy(q.service), `operation = ${sqlString(q.operation)}`);
  } else if (q.service && !q.source && !q.target) {
    // A service's latency is what its callers waited on it: the edges it served.
    where.push(`(target_id = ${sqlString(q.service)} OR target_name = ${sqlString(q.service)})`);
  } else if (q.source && q.target && !q.service) {
    where.push(`source_id = ${sqlString(q.source)}`, `target_id = ${sqlString(q.target)}`);
  } else {
    throw badRequest('select either service, or source and target (node ids as in /api/v1/service-graph)');
  }
  if (q.signal && q.signal !== 'all') where.push(`signal = ${sqlString(q.signal)}`);
  else if (table === 'edges_1m') {
    // Several signals describing one edge count each request once, as in the service graph: each caller →
    // callee pair's figures come from its most complete signal in the window (SIGNAL_PREFERENCE). One
    // pass, ranking in a window function (an IN over a grouped subquery read the rows twice: 3x slower).
    const rank = `if(indexOf(${PREFERENCE_ARRAY}, signal) = 0, ${SIGNAL_PREFERENCE.length + 1}, indexOf(${PREFERENCE_ARRAY}, signal))`;
    const ranked = `SELECT minute, requests, errors, latency, ${rank} AS signal_rank, min(signal_rank) OVER (PARTITION BY source_id, target_id) AS best_rank
      FROM edges_1m WHERE ${where.join(' AND ')}`;
    return { startMs, endMs, rows: `(${ranked}) WHERE signal_rank = best_rank` };
  }
  return { startMs, endMs, rows: `${table} WHERE ${where.join(' AND ')}` };
}

const PREFERENCE_ARRAY = `[${SIGNAL_PREFERENCE.map(sqlString).join(', ')}]`;

/** Step in seconds: given (`30s`, `5m`, `1h`, or bare seconds), else about 60 points over the window. */
function stepSeconds(step: string | undefined, startMs: number, endMs: number): number {
  if (step) {
    const n = Number.parseInt(step, 10);
    const seconds = step.endsWith('h') ? n * 3600 : step.endsWith('m') ? n * 60 : n;
    if (seconds < 60) throw badRequest('step must be at least 60s: the rows are per minute');
    return seconds;
  }
  return Math.max(60, Math.ceil((endMs - startMs) / 1000 / 60 / 60) * 60);
}

interface SlotRow {
  slot: string;
  requests: number;
  errors: number;
  latency: [number[], number[]];
}

/** Rows per time slot, and every slot of the window (empty ones too, for charts). */
async function slots(store: ClickHouseStore, q: SelectorQuery & { step?: string | undefined }) {
  const { startMs, endMs, rows: selected } = selection(q);
  const step = stepSeconds(q.step, startMs, endMs);
  const rows = await store.query<SlotRow>(
    `SELECT toString(toUnixTimestamp(toStartOfInterval(minute, INTERVAL ${sqlInt(step)} SECOND))) AS slot,
       sum(requests) AS requests, sum(errors) AS errors, sumMap(latency) AS latency
     FROM ${selected} GROUP BY slot ORDER BY slot`,
  );
  const bySlot = new Map(rows.map((r) => [Number(r.slot) * 1000, r]));
  const first = Math.floor(startMs / 1000 / step) * step * 1000;
  const times: number[] = [];
  for (let t = first; t < endMs; t += step * 1000) times.push(t);
  return { startMs, endMs, step, times, row: (t: number) => bySlot.get(t) };
}

const histogramOf = (row: SlotRow | undefined) =>
  row ? LatencyHistogram.fromSparse({ indexes: row.latency[0], counts: row.latency[1] }) : new LatencyHistogram();

function round(n: number, digits?: number): number;
function round(n: number | null, digits?: number): number | null;
function round(n: number | null, digits = 3): number | null {
  return n === null ? null : Math.round(n * 10 ** digits) / 10 ** digits;
}

/** One entry of GET /api/v1/operations. */
export interface OperationSummary {
  name: string;
  requests: number;
  errors: number;
  /** Requests per second over the window. */
  rps: number;
  /** errors / requests, 0..1. */
  errorRate: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

const OperationsQuery = Type.Object({
  service: Type.String({ minLength: 1 }),
  start: Type.Optional(Type.String()),
  end: Type.Optional(Type.String()),
  signal: Type.Optional(Type.Union(SIGNALS.map((s) => Type.Literal(s)))),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
});

/** A service's operations over a window, busiest first (ties by name), at most `limit` of them. */
async function readOperations(
  store: ClickHouseStore,
  q: { service: string; start?: string | undefined; end?: string | undefined; signal?: (typeof SIGNALS)[number] | undefined; limit?: number | undefined },
): Promise<OperationSummary[]> {
  const { startMs, endMs, where } = timeWindow(q);
  where.push(servedBy(q.service));
  if (q.signal && q.signal !== 'all') where.push(`signal = ${sqlString(q.signal)}`);
  const rows = await store.query<{ operation: string; requests: number; errors: number; latency: [number[], number[]] }>(
    `SELECT operation, sum(requests) AS requests, sum(errors) AS errors, sumMap(latency) AS latency
     FROM operations_1m WHERE ${where.join(' AND ')}
     GROUP BY operation ORDER BY requests DESC, operation LIMIT ${sqlInt(q.limit ?? 20)}`,
  );
  const seconds = Math.max(1, (endMs - startMs) / 1000);
  return rows.map((r) => {
    const requests = Number(r.requests);
    const errors = Number(r.errors);
    const histogram = LatencyHistogram.fromSparse({ indexes: r.latency[0], counts: r.latency[1] });
    return {
      name: r.operation,
      requests: round(requests, 4),
      errors: round(errors, 4),
      rps: round(requests / seconds, 4),
      errorRate: requests > 0 ? round(errors / requests, 4) : 0,
      p50Ms: round(histogram.quantile(0.5)),
      p95Ms: round(histogram.quantile(0.95)),
      p99Ms: round(histogram.quantile(0.99)),
    };
  });
}

export const latencyApi: FastifyPluginAsyncTypebox<{ store: ClickHouseStore }> = async (app, { store }) => {
  app.get('/api/v1/latency', { schema: { querystring: Type.Object(Selector) } }, async (request) => {
    const { rows } = selection(request.query);
    const [row] = await store.query<{ latency: [number[], number[]] }>(`SELECT sumMap(latency) AS latency FROM ${rows}`);
    const histogram = row ? LatencyHistogram.fromSparse({ indexes: row.latency[0], counts: row.latency[1] }) : new LatencyHistogram();
    return histogram.toLatencySummary();
  });

  app.get('/api/v1/latency/heatmap', { schema: { querystring: Type.Object(WithStep) } }, async (request) => {
    const s = await slots(store, request.query);
    return {
      times: s.times,
      bucketsLeMs: [...DEFAULT_DISPLAY_BOUNDS_MS, null],
      counts: s.times.map((t) => histogramOf(s.row(t)).toApiBuckets().map((b) => b.count)),
    };
  });

  app.get('/api/v1/operations', { schema: { querystring: OperationsQuery } }, async (request) => ({
    operations: await readOperations(store, request.query),
  }));

  app.get('/api/v1/red', { schema: { querystring: Type.Object(WithStep) } }, async (request) => {
    const s = await slots(store, request.query);
    const series = s.times.map((t) => ({ row: s.row(t), histogram: histogramOf(s.row(t)) }));
    return {
      times: s.times,
      step: s.step,
      requests: series.map(({ row }) => round(Number(row?.requests ?? 0), 4)),
      errors: series.map(({ row }) => round(Number(row?.errors ?? 0), 4)),
      rps: series.map(({ row }) => round(Number(row?.requests ?? 0) / s.step, 4)),
      p50Ms: series.map(({ histogram }) => round(histogram.quantile(0.5))),
      p95Ms: series.map(({ histogram }) => round(histogram.quantile(0.95))),
      p99Ms: series.map(({ histogram }) => round(histogram.quantile(0.99))),
    };
  });
};
