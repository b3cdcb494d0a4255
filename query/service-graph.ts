// GET /api/v1/service-graph: nodes and edges over a window, from the edge rows (edges_1m and its rollups:
// hourly, ten-minute, and the parts of ten-minute blocks), in the contract's shape
// (../shared/reference/interface.md).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { NODE_KIND_BY_RANK } from '../collector/service-graph/halves.ts';
import { type SparseHistogram, mergeSparse, sparseQuantiles } from '../collector/service-graph/histogram.ts';
import { type ClickHouseStore, sqlInt, sqlString } from '../collector/storage/store.ts';

/**
 * Which signal an edge's counts and latencies come from when several describe it, most complete first:
 * access logs see every request with its exact duration; the mesh's counters see every request, latency
 * in buckets; spans are usually sampled (weighted, so an estimate).
 */
export const SIGNAL_PREFERENCE = ['envoy-als', 'otlp-logs', 'envoy-metrics', 'prometheus', 'otlp-metrics', 'statsd', 'spans'];
const RANK_BY_SIGNAL = new Map(SIGNAL_PREFERENCE.map((signal, rank) => [signal, rank]));
export const preference = (signal: string) => RANK_BY_SIGNAL.get(signal) ?? SIGNAL_PREFERENCE.length;

export const SIGNALS = ['spans', 'envoy-als', 'envoy-metrics', 'statsd', 'prometheus', 'otlp-metrics', 'otlp-logs', 'all'] as const;

/**
 * One row of the graph query: the calls between two nodes over one protocol, as one signal tells them, over the
 * window — read as a JSON array per row (about half the bytes of an object per row), one row at a time.
 */
type EdgeRow = [
  source: string,
  target: string,
  protocol: string,
  signal: string,
  sourceKind: number,
  targetKind: number,
  requests: number,
  errors: number,
  mtlsYes: number,
  mtlsNo: number,
  latencyIndexes: number[],
  latencyCounts: number[],
  requestBytes: number,
  responseBytes: number,
];

export interface GraphNode {
  id: string;
  name: string;
  namespace: string;
  version?: string;
  kind: (typeof NODE_KIND_BY_RANK)[number];
  requests: number;
  errors: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  protocol: string;
  requests: number;
  errors: number;
  rps: number;
  errorRate: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  mtls: boolean | null;
  signals: string[];
  /** Bytes sent to the callee and back over the window, where a signal states them (0: none did). */
  requestBytes: number;
  responseBytes: number;
}

/** A query time: Unix milliseconds or RFC 3339. */
export function parseTime(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  if (/^[0-9]+$/.test(value)) return Number(value);
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) throw Object.assign(new Error(`${name} must be Unix milliseconds or RFC 3339, got "${value}"`), { statusCode: 400 });
  return parsed;
}

const round = (n: number) => Math.round(n * 1e4) / 1e4;
const QUANTILES = [0.5, 0.95, 0.99] as const;
/** p50, p95 and p99 in ms, rounded to the µs; null when the histogram is empty. */
const percentiles = (h: SparseHistogram) => {
  const values = sparseQuantiles(h, QUANTILES);
  for (let i = 0; i < values.length; i++) if (values[i] !== null) values[i] = Math.round(values[i]! * 1e3) / 1e3;
  return values as [number | null, number | null, number | null];
};

export interface GraphQuery {
  startMs: number;
  endMs: number;
  namespace?: string | undefined;
  service?: string | undefined;
  signal: (typeof SIGNALS)[number];
}

/**
 * Where a window's edge rows come from: SQL conditions on edges_1h, edges_10m, edges_10m_parts and edges_1m
 * (null: that table has nothing for the window), and the WITH clause defining the names they use.
 */
interface WindowRows {
  with: string;
  hours: string | null;
  tenMinutes: string | null;
  blockParts: string | null;
  minutes: string | null;
  /** The hour rows overlapping the window (node names are read from them), and the window's minutes if any. */
  nameHours: string;
  nameMinutes: string | null;
}

/** A DateTime far ahead: a rollup not known to be complete is complete from then. */
const NEVER = 4_000_000_000;

/** From when (Unix seconds) each rollup of edges_1m holds every minute row: from its migration on. */
interface RollupCoverage {
  tenMinutes?: number;
  blockParts?: number;
}

// When the rollups became complete, per store (schema migrations 6 and 9): once recorded it can only have been
// right, so it is read once; a store without both records (a migration still running elsewhere) is asked again.
const coverageByStore = new WeakMap<ClickHouseStore, RollupCoverage>();

async function rollupCoverage(store: ClickHouseStore): Promise<RollupCoverage> {
  const known = coverageByStore.get(store);
  if (known !== undefined) return known;
  // (`rollup` is a keyword after GROUP BY, hence the other name.)
  const rows = await store.query<{ table: string; from: string | number }>(
    `SELECT rollup AS table, toUnixTimestamp(max(complete_from)) AS from FROM rollup_coverage WHERE rollup IN ('edges_10m', 'edges_10m_parts') GROUP BY table`,
  );
  const from = (rollup: string) => {
    const row = rows.find((r) => r.table === rollup);
    return row === undefined ? undefined : Number(row.from);
  };
  const coverage: RollupCoverage = { tenMinutes: from('edges_10m'), blockParts: from('edges_10m_parts') };
  if (coverage.tenMinutes !== undefined && coverage.blockParts !== undefined) coverageByStore.set(store, coverage);
  return coverage;
}

/**
 * The rows that add up to a window. Windows over 6 hours read the hourly rollup alone: the hours the window
 * touches, whole. Shorter ones count exactly the minutes from the one `startMs` falls in to the one `endMs`
 * falls in, as disjoint sets of rows; which ones depends on where the rollups are complete (`coverage`: schema
 * migrations 6 and 9 record from when).
 *
 * - Where edges_10m_parts is complete (every window since migration 9) and the window is 10 minutes or longer:
 *   the hours lying wholly inside from edges_1h, and all the rest from edges_10m_parts alone — the whole
 *   ten-minute blocks, the part of a block before the first whole one (one row per edge) and after the last
 *   (one more). A 1 h window off the hour reads ~7 rows per edge, from one table.
 * - Otherwise (shorter windows, and on a store upgraded from before migration 9, windows older than it):
 *   the hours lying wholly inside from edges_1h, the other whole blocks from edges_10m where it is complete,
 *   every other minute from edges_1m.
 *
 * Hour and block boundaries are the server's own toStartOfHour / toStartOfTenMinutes, the functions that
 * filled the rollups, so the pieces fit in the server's time zone; where its hours do not start on a
 * ten-minute boundary (offsets of :45) no hour rows are used. Every time zone's boundaries fall on multiples
 * of 15 minutes (hours) and 5 minutes (blocks) of UTC, so a table that cannot contribute is left out here,
 * and so are conditions known here (the engine's planning is a good part of the query's time).
 */
function windowRows(startMs: number, endMs: number, coverage: RollupCoverage): WindowRows {
  const startSeconds = Math.floor(startMs / 1000);
  const endSeconds = Math.floor(endMs / 1000);
  if (endMs - startMs > 6 * 3_600_000) {
    const hours = `hour >= toStartOfHour(toDateTime(${sqlInt(startSeconds)})) AND hour <= toDateTime(${sqlInt(endSeconds)})`;
    return { with: '', hours, tenMinutes: null, blockParts: null, minutes: null, nameHours: hours, nameMinutes: null };
  }
  // The window's minutes, as row times: [first, last).
  const first = Math.floor(startSeconds / 60) * 60;
  const last = Math.floor(endSeconds / 60) * 60 + 60;
  const fits = (boundaryStep: number, length: number) => Math.ceil(first / boundaryStep) * boundaryStep + length <= last;
  const hoursFit = fits(900, 3600);
  // [first_boundary, last_boundary): the whole blocks; [hours_from, hours_to): the whole hours (empty: from = to).
  const definitions = [
    `toDateTime(${sqlInt(first)}) AS window_first`,
    `toDateTime(${sqlInt(last)}) AS window_last`,
    'toStartOfTenMinutes(window_first + 599) AS first_boundary',
    'toStartOfTenMinutes(window_last) AS last_boundary',
  ];
  if (hoursFit) {
    definitions.push(
      'toStartOfHour(window_first + 3599) AS first_hour',
      'toStartOfHour(window_last) AS hours_end',
      'first_hour < hours_end AND toStartOfTenMinutes(first_hour) = first_hour AS use_hours',
      'if(use_hours, first_hour, window_first) AS hours_from',
      'if(use_hours, hours_end, window_first) AS hours_to',
    );
  }
  const hours = hoursFit ? 'hour >= hours_from AND hour < hours_to' : null;
  const notInHours = (column: string) => (hoursFit ? ` AND NOT (${column} >= hours_from AND ${column} < hours_to)` : '');
  const names = {
    nameHours: `hour >= toStartOfHour(toDateTime(${sqlInt(first)})) AND hour < toDateTime(${sqlInt(last)})`,
    nameMinutes: `minute >= toDateTime(${sqlInt(first)}) AND minute < toDateTime(${sqlInt(last)})`,
  };

  // A window of 10 minutes or more crosses a block boundary: first_boundary <= last_boundary.
  if (last - first >= 600 && coverage.blockParts !== undefined && coverage.blockParts <= first - 600) {
    return {
      with: `WITH ${definitions.join(',\n    ')}`,
      hours,
      tenMinutes: null,
      blockParts:
        `(part = 'block' AND minute >= first_boundary AND minute < last_boundary${notInHours('minute')})` +
        " OR (part = 'minute_to_end' AND minute = window_first AND window_first < first_boundary)" +
        " OR (part = 'start_to_minute' AND minute = window_last - 60 AND last_boundary < window_last)",
      minutes: null,
      ...names,
    };
  }

  // [blocks_from, blocks_to): the whole blocks read from edges_10m (empty: from = to).
  const blocksFit = fits(300, 600) && coverage.tenMinutes !== undefined;
  definitions.push(
    `toDateTime(${sqlInt(blocksFit ? coverage.tenMinutes! : NEVER)}) AS blocks_complete_from`,
    'toStartOfTenMinutes(greatest(window_first, blocks_complete_from) + 599) AS first_block',
    'if(first_block < last_boundary, first_block, window_first) AS blocks_from',
    'if(first_block < last_boundary, last_boundary, window_first) AS blocks_to',
  );
  return {
    with: `WITH ${definitions.join(',\n    ')}`,
    hours,
    tenMinutes: blocksFit ? `ten_minute >= blocks_from AND ten_minute < blocks_to${notInHours('ten_minute')}` : null,
    blockParts: null,
    minutes: `minute >= window_first AND minute < window_last${notInHours('minute')} AND NOT (minute >= blocks_from AND minute < blocks_to)`,
    ...names,
  };
}

const EDGE_ROW_COLUMNS = 'source_id, target_id, protocol, signal, source_kind, target_kind, requests, errors, mtls_yes, mtls_no, latency, request_bytes, response_bytes';

/** The query behind the graph: one row per caller, callee, protocol and signal over the window, in that order. */
function graphSql(rows: WindowRows, signal: GraphQuery['signal'], settings = ''): string {
  const signalFilter = signal === 'all' ? '' : ` AND signal = ${sqlString(signal)}`;
  const parts: string[] = [];
  if (rows.hours) parts.push(`SELECT ${EDGE_ROW_COLUMNS} FROM edges_1h WHERE ${rows.hours}${signalFilter}`);
  if (rows.tenMinutes) parts.push(`SELECT ${EDGE_ROW_COLUMNS} FROM edges_10m WHERE ${rows.tenMinutes}${signalFilter}`);
  if (rows.blockParts) parts.push(`SELECT ${EDGE_ROW_COLUMNS} FROM edges_10m_parts WHERE (${rows.blockParts})${signalFilter}`);
  if (rows.minutes) parts.push(`SELECT ${EDGE_ROW_COLUMNS} FROM edges_1m WHERE ${rows.minutes}${signalFilter}`);
  // The latency histograms are merged by sorting their buckets and keeping the running count at the last
  // of each index: several times cheaper than sumMap (measured 3x with 3 buckets a row, 7x with 50).
  return `${rows.with}
    SELECT source_id, target_id, protocol, signal, source_kind, target_kind, requests, errors, mtls_yes, mtls_no,
      arrayFilter((index, last) -> last, indexes, bucket_ends),
      arrayPopFront(arrayDifference(arrayPushFront(arrayFilter((running, last) -> last, running_counts, bucket_ends), 0))),
      request_bytes, response_bytes
    FROM (
      SELECT source_id, target_id, protocol, signal,
        min(source_kind) AS source_kind, min(target_kind) AS target_kind,
        sum(requests) AS requests, sum(errors) AS errors, sum(mtls_yes) AS mtls_yes, sum(mtls_no) AS mtls_no,
        sum(request_bytes) AS request_bytes, sum(response_bytes) AS response_bytes,
        groupArrayArray(latency.1) AS all_indexes, groupArrayArray(latency.2) AS all_counts,
        arraySort(all_indexes) AS indexes, arrayCumSum(arraySort((count, index) -> index, all_counts, all_indexes)) AS running_counts,
        arrayMap((index, next) -> index != next, indexes, arrayResize(arrayPopFront(indexes), length(indexes), 65535)) AS bucket_ends
      FROM (${parts.join(' UNION ALL ')})
      GROUP BY source_id, target_id, protocol, signal
    ) ORDER BY source_id, target_id, protocol, signal${settings}`;
}

/**
 * Name, namespace and version of the nodes in rows of `table` matching `where` (any row's: they are what the
 * node's id is made of). `ids` restricts it to some nodes.
 */
function nodeNamesSql(table: 'edges_1h' | 'edges_1m', where: string, signal: GraphQuery['signal'], settings: string, ids?: readonly string[]): string {
  const signalFilter = signal === 'all' ? '' : ` AND signal = ${sqlString(signal)}`;
  const idFilter = (column: string) => (ids ? ` AND ${column} IN (${ids.map(sqlString).join(', ')})` : '');
  return `SELECT tuple(node, any(name), any(namespace), any(version)) AS names FROM (
      SELECT source_id AS node, source_name AS name, source_namespace AS namespace, source_version AS version
      FROM ${table} WHERE ${where}${signalFilter}${idFilter('source_id')}
      UNION ALL
      SELECT target_id, target_name, target_namespace, target_version
      FROM ${table} WHERE ${where}${signalFilter}${idFilter('target_id')}
    ) GROUP BY node${settings}`;
}

type NodeNames = Map<string, [name: string, namespace: string, version: string]>;

/**
 * Node names by id, per store, kept for NAMES_KEPT_MS: a node's id is made of its name, namespace and version,
 * so what was read stays right, and a graph refreshed every few seconds (the UI, Grafana) asks for the same
 * nodes again and again. Kept a minute, so a version learned later (`reviews-v2` seen first without one)
 * shows within a minute.
 */
const knownNamesByStore = new WeakMap<ClickHouseStore, { names: NodeNames; readAtMs: number }>();
const NAMES_KEPT_MS = 60_000;
const MAX_KNOWN_NAMES = 200_000;
/** Past this many unknown nodes their names are read for the whole window rather than listed by id. */
const MAX_IDS_LISTED = 2_000;

/**
 * Names of the nodes `ids`: those not known yet are read from the hour rows overlapping the window (which
 * hold every edge of its minutes) and, only when the retention has dropped an hour but not yet its minutes,
 * from the minutes.
 */
async function namesOf(store: ClickHouseStore, ids: readonly string[], rows: WindowRows, signal: GraphQuery['signal'], settings: string): Promise<NodeNames> {
  let known = knownNamesByStore.get(store);
  if (known === undefined || Date.now() - known.readAtMs > NAMES_KEPT_MS || known.names.size + ids.length > MAX_KNOWN_NAMES) {
    knownNamesByStore.set(store, (known = { names: new Map(), readAtMs: Date.now() }));
  }
  const { names } = known;
  const missing = ids.filter((id) => !names.has(id));
  if (missing.length > 0) {
    const listed = missing.length <= MAX_IDS_LISTED ? missing : undefined;
    for (const [id, n] of await readNames(store, nodeNamesSql('edges_1h', rows.nameHours, signal, settings, listed))) names.set(id, n);
    const unnamed = missing.filter((id) => !names.has(id));
    if (unnamed.length > 0 && rows.nameMinutes) {
      for (const [id, n] of await readNames(store, nodeNamesSql('edges_1m', rows.nameMinutes, signal, settings, unnamed))) names.set(id, n);
    }
  }
  return names;
}

async function readNames(store: ClickHouseStore, sql: string): Promise<NodeNames> {
  const rows = await store.query<{ names: [id: string, name: string, namespace: string, version: string] }>(sql);
  return new Map(rows.map(({ names: [id, name, namespace, version] }) => [id, [name, namespace, version]]));
}

export interface ServiceGraph {
  start: number;
  end: number;
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Each edge's latency histogram (ms, storage form): what its percentiles were read from. Keyed by the edge
   * itself, not its id: hashing 5,000 fresh id strings cost a 1 h graph ~1.5 ms. */
  latency: Map<GraphEdge, SparseHistogram>;
}

const hasBytes = (row: EdgeRow) => Number(row[12]) !== 0 || Number(row[13]) !== 0;

/**
 * One edge of the graph from the rows of one caller → callee pair (one per protocol and signal). Several
 * protocols between a pair are one edge in the contract. Several signals describing it are one edge too, each
 * request counted once: its figures come from the pair's most complete signal (SIGNAL_PREFERENCE), whose rows
 * are returned with it; mTLS from any signal that knows.
 */
function edgeFromRows(rows: readonly EdgeRow[], seconds: number): { edge: GraphEdge; latency: SparseHistogram; counted: readonly EdgeRow[] } {
  const [source, target, firstProtocol, firstSignal] = rows[0]!;
  let protocol = firstProtocol;
  let countedSignal = firstSignal;
  const signals: string[] = [];
  let mtlsYes = 0;
  let mtlsNo = 0;
  for (const row of rows) {
    if (protocol === 'unknown') protocol = row[2];
    if (!signals.includes(row[3])) signals.push(row[3]);
    if (preference(row[3]) < preference(countedSignal)) countedSignal = row[3];
    mtlsYes += Number(row[8]);
    mtlsNo += Number(row[9]);
  }
  const counted = rows.length === 1 ? rows : rows.filter((row) => row[3] === countedSignal);
  let requests = 0;
  let errors = 0;
  for (const row of counted) {
    requests += Number(row[6]);
    errors += Number(row[7]);
  }
  // Bytes from the counted signal; when it states none, from the most complete signal that does.
  let bytesSignal = counted.some(hasBytes) ? countedSignal : undefined;
  if (bytesSignal === undefined) {
    for (const row of rows) if (hasBytes(row) && (bytesSignal === undefined || preference(row[3]) < preference(bytesSignal))) bytesSignal = row[3];
  }
  let requestBytes = 0;
  let responseBytes = 0;
  for (const row of rows) {
    if (row[3] !== bytesSignal) continue;
    requestBytes += Number(row[12]);
    responseBytes += Number(row[13]);
  }
  const histograms = counted.map((row): SparseHistogram => ({ indexes: row[10], counts: row[11] }));
  const latency = histograms.length === 1 ? histograms[0]! : mergeSparse(histograms);
  const [p50Ms, p95Ms, p99Ms] = percentiles(latency);
  const edge: GraphEdge = {
    id: `${source}->${target}`,
    source,
    target,
    protocol,
    requests: round(requests),
    errors: round(errors),
    rps: round(requests / seconds),
    errorRate: requests > 0 ? round(errors / requests) : 0,
    p50Ms,
    p95Ms,
    p99Ms,
    // Any plaintext traffic makes the edge not mTLS; unknown when no signal said either way.
    mtls: mtlsNo > 0 ? false : mtlsYes > 0 ? true : null,
    signals: signals.sort(),
    requestBytes: Math.round(requestBytes),
    responseBytes: Math.round(responseBytes),
  };
  return { edge, latency, counted };
}

/** A node's figures while the edges are read: the calls it served, and their latency histograms. */
interface NodeTally {
  kindRank: number;
  requests: number;
  errors: number;
  served: SparseHistogram[];
}

export async function readServiceGraph(store: ClickHouseStore, q: GraphQuery): Promise<ServiceGraph> {
  const window = windowRows(q.startMs, q.endMs, await rollupCoverage(store));
  // The embedded engine shares the process's cores with ingest: one thread per query (measured: less CPU,
  // and no slower, than the default of a thread per core).
  const settings = store.mode === 'embedded' ? ' SETTINGS max_threads = 1' : '';
  const seconds = Math.max(1, (q.endMs - q.startMs) / 1000);
  const tallies = new Map<string, NodeTally>();
  const tally = (id: string, kindRank: number) => {
    let t = tallies.get(id);
    if (t === undefined) tallies.set(id, (t = { kindRank, requests: 0, errors: 0, served: [] }));
    return t;
  };
  let edgeList: GraphEdge[] = [];
  const latencyByEdge = new Map<GraphEdge, SparseHistogram>();
  // Rows come in id order, a pair's together: each pair becomes an edge as soon as its last row is read, and
  // the rows are dropped (a 1 h graph of 5,000 edges is ~1 MB of rows).
  let pairRows: EdgeRow[] = [];
  const finishPair = () => {
    if (pairRows.length === 0) return;
    const { edge, latency, counted } = edgeFromRows(pairRows, seconds);
    tally(edge.source, Number(pairRows[0]![4]));
    // A node's own figures are the calls it served.
    const callee = tally(edge.target, Number(pairRows[0]![5]));
    for (const row of counted) {
      callee.requests += Number(row[6]);
      callee.errors += Number(row[7]);
      callee.served.push({ indexes: row[10], counts: row[11] });
    }
    edgeList.push(edge);
    latencyByEdge.set(edge, latency);
    pairRows = [];
  };
  const readEdges = store.queryEach(graphSql(window, q.signal, settings), (columns) => {
    const row = columns as EdgeRow;
    // The storage pass takes back guesses it has paired (negative rows): what nets to nothing is no edge.
    // (Left out here rather than by a HAVING: the engine plans a query faster without one.)
    if (!(Number(row[6]) > 1e-6)) return;
    const first = pairRows[0];
    if (first !== undefined && (first[0] !== row[0] || first[1] !== row[1])) finishPair();
    pairRows.push(row);
  });
  await readEdges;
  finishPair();
  const names = await namesOf(store, [...tallies.keys()], window, q.signal, settings);
  let nodeList = [...tallies].map(([id, t]): GraphNode => {
    // (A node without a name can only be a race with the retention dropping the window meanwhile.)
    const [name, namespace, version] = names.get(id) ?? [id, '', ''];
    // A node's latency is that of the calls it served: the histograms of the edges into it, merged.
    const [p50Ms, p95Ms, p99Ms] = t.served.length === 0 ? [null, null, null] : percentiles(t.served.length === 1 ? t.served[0]! : mergeSparse(t.served));
    const kind = NODE_KIND_BY_RANK[t.kindRank] ?? 'unknown';
    return { id, name, namespace, ...(version ? { version } : {}), kind, requests: round(t.requests), errors: round(t.errors), p50Ms, p95Ms, p99Ms };
  });
  if (q.namespace) {
    const inNamespace = new Set(nodeList.filter((n) => n.namespace === q.namespace).map((n) => n.id));
    edgeList = edgeList.filter((e) => inNamespace.has(e.source) || inNamespace.has(e.target));
  }
  if (q.service) {
    const focus = new Set(nodeList.filter((n) => n.id === q.service || n.name === q.service).map((n) => n.id));
    edgeList = edgeList.filter((e) => focus.has(e.source) || focus.has(e.target));
  }
  if (q.namespace || q.service) {
    const kept = new Set(edgeList.flatMap((e) => [e.source, e.target]));
    nodeList = nodeList.filter((n) => kept.has(n.id));
  }
  nodeList.sort((a, b) => (a.id < b.id ? -1 : 1));
  return { start: q.startMs, end: q.endMs, nodes: nodeList, edges: edgeList, latency: latencyByEdge };
}

/** Caller → callee links by service name (as Jaeger and Zipkin name services), for their dependency APIs. */
export async function dependencyLinks(store: ClickHouseStore, endMs: number, lookbackMs: number): Promise<Array<{ parent: string; child: string; callCount: number; errorCount: number }>> {
  const graph = await readServiceGraph(store, { startMs: endMs - lookbackMs, endMs, signal: 'all' });
  const names = new Map(graph.nodes.map((n) => [n.id, n.name]));
  return graph.edges.map((e) => ({
    parent: names.get(e.source) ?? e.source,
    child: names.get(e.target) ?? e.target,
    callCount: Math.round(e.requests),
    errorCount: Math.round(e.errors),
  }));
}

export const serviceGraphApi: FastifyPluginAsyncTypebox<{ store: ClickHouseStore }> = async (app, { store }) => {
  app.get(
    '/api/v1/service-graph',
    {
      schema: {
        querystring: Type.Object({
          start: Type.Optional(Type.String()),
          end: Type.Optional(Type.String()),
          namespace: Type.Optional(Type.String()),
          service: Type.Optional(Type.String()),
          signal: Type.Optional(Type.Union(SIGNALS.map((s) => Type.Literal(s)))),
        }),
      },
    },
    async (request) => {
      const q = request.query;
      const endMs = parseTime(q.end, 'end', Date.now());
      const startMs = parseTime(q.start, 'start', endMs - 15 * 60_000);
      if (startMs >= endMs) throw Object.assign(new Error('start must be before end'), { statusCode: 400 });
      const { start, end, nodes, edges } = await readServiceGraph(store, { startMs, endMs, namespace: q.namespace, service: q.service, signal: q.signal ?? 'all' });
      return { start, end, nodes, edges };
    },
  );
};
