// A Prometheus-compatible API under /prometheus/api/v1/ (interface.md), so that Grafana's Tempo data source
// draws its service-graph tab from meshlens, and dashboards chart RED per edge, with no plugin: the
// `traces_service_graph_*` series Tempo's metrics generator would write, answered from meshlens' edge rows
// (each request once, whatever signals describe it: query/service-graph.ts).
//
// Series, per caller → callee (labels `client`, `server`, `connection_type` when not a plain service call —
// `virtual_node`, `database`, `messaging_system` —, `client_service_namespace` / `server_service_namespace`
// when known; versions of one service are one series, as Tempo names services):
//   traces_service_graph_request_total, …_request_failed_total            calls and failed calls
//   traces_service_graph_request_{server,client}_seconds_{bucket,sum,count} latency (one histogram per edge:
//                                                                           meshlens pairs both sides into one)
// The rows are per minute, so a counter's value is known only as its increase over a window: rate(x[r]) at t
// is the increase over (t − r, t] divided by r, increase/delta the increase itself, irate the same as rate; a
// bare selector is the increase over the last 5 minutes (Prometheus' lookback). _bucket series carry the
// edge's fine histogram (1 % buckets) along, so histogram_quantile over them is read from it, not from
// interpolation between the coarse `le` bounds.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { type SparseHistogram, bucketValueMs, mergeSparse, sparseQuantiles } from '../collector/service-graph/histogram.ts';
import type { ClickHouseStore } from '../collector/storage/store.ts';
import { type AggregateOp, type Expr, type Matcher, PromqlError, type Selector, parseDuration, parsePromql } from './promql.ts';
import { type GraphNode, type ServiceGraph, readServiceGraph } from './service-graph.ts';

const TOTAL = 'traces_service_graph_request_total';
const FAILED = 'traces_service_graph_request_failed_total';
const LATENCY_FAMILIES = ['traces_service_graph_request_server_seconds', 'traces_service_graph_request_client_seconds'];
/** Every series name served, for selectors by __name__ and for label lookups. */
export const SERIES_NAMES = [TOTAL, FAILED, ...LATENCY_FAMILIES.flatMap((f) => [`${f}_bucket`, `${f}_sum`, `${f}_count`])];
/** `le` bounds (seconds) of the _bucket series: Prometheus client libraries' defaults, then +Inf. */
const LE_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LOOKBACK_MS = 5 * 60_000;
/** Prometheus refuses more points than this per series in a range query; so do we. */
const MAX_POINTS = 11_000;

type Labels = Record<string, string>;

/** One series' value at one evaluation; `histogram` (ms) rides along on _bucket samples and their sums. */
interface Sample {
  labels: Labels;
  value: number;
  histogram?: SparseHistogram;
}

type Value = { kind: 'scalar'; value: number } | { kind: 'vector'; samples: Sample[] };

/** An error of the query itself (400 bad_data), as opposed to storage failing (503). */
class BadQuery extends Error {}

// ---- Series from the graph --------------------------------------------------------------------------------

interface EdgeTotals {
  labels: Labels;
  requests: number;
  errors: number;
  histograms: SparseHistogram[];
}

function connectionType(client: GraphNode, server: GraphNode): string {
  if (server.kind === 'database' || client.kind === 'database') return 'database';
  if (server.kind === 'messaging' || client.kind === 'messaging') return 'messaging_system';
  if (server.kind === 'virtual' || client.kind === 'virtual') return 'virtual_node';
  return '';
}

/** The graph's edges as Tempo's label sets, versions of one service folded into one series. */
function edgeTotals(graph: ServiceGraph): EdgeTotals[] {
  const nodes = new Map(graph.nodes.map((n) => [n.id, n]));
  const byLabels = new Map<string, EdgeTotals>();
  for (const edge of graph.edges) {
    const client = nodes.get(edge.source);
    const server = nodes.get(edge.target);
    if (client === undefined || server === undefined) continue;
    const labels: Labels = { client: client.name, server: server.name };
    const type = connectionType(client, server);
    if (type !== '') labels.connection_type = type;
    if (client.namespace !== '') labels.client_service_namespace = client.namespace;
    if (server.namespace !== '') labels.server_service_namespace = server.namespace;
    const key = labelKey(labels);
    let totals = byLabels.get(key);
    if (totals === undefined) byLabels.set(key, (totals = { labels, requests: 0, errors: 0, histograms: [] }));
    totals.requests += edge.requests;
    totals.errors += edge.errors;
    const histogram = graph.latency.get(edge);
    if (histogram !== undefined) totals.histograms.push(histogram);
  }
  return [...byLabels.values()];
}

function histogramCount(h: SparseHistogram, maxMs = Infinity): number {
  let count = 0;
  for (let i = 0; i < h.indexes.length; i++) if (bucketValueMs(h.indexes[i]!) <= maxMs) count += h.counts[i]!;
  return count;
}

function histogramSumSeconds(h: SparseHistogram): number {
  let sum = 0;
  for (let i = 0; i < h.indexes.length; i++) sum += h.counts[i]! * bucketValueMs(h.indexes[i]!);
  return sum / 1000;
}

/** Every served series with its increase over the window the graph covers. */
function seriesOf(graph: ServiceGraph): Sample[] {
  const samples: Sample[] = [];
  for (const edge of edgeTotals(graph)) {
    samples.push({ labels: { __name__: TOTAL, ...edge.labels }, value: edge.requests });
    samples.push({ labels: { __name__: FAILED, ...edge.labels }, value: edge.errors });
    if (edge.histograms.length === 0) continue;
    const histogram = edge.histograms.length === 1 ? edge.histograms[0]! : mergeSparse(edge.histograms);
    for (const family of LATENCY_FAMILIES) {
      for (const le of LE_BOUNDS) samples.push({ labels: { __name__: `${family}_bucket`, ...edge.labels, le: String(le) }, value: histogramCount(histogram, le * 1000), histogram });
      samples.push({ labels: { __name__: `${family}_bucket`, ...edge.labels, le: '+Inf' }, value: histogramCount(histogram), histogram });
      samples.push({ labels: { __name__: `${family}_sum`, ...edge.labels }, value: histogramSumSeconds(histogram) });
      samples.push({ labels: { __name__: `${family}_count`, ...edge.labels }, value: histogramCount(histogram) });
    }
  }
  return samples;
}

// ---- Evaluation ---------------------------------------------------------------------------------------------

function labelKey(labels: Labels): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

const regexCache = new Map<string, RegExp>();
function fullMatch(pattern: string): RegExp {
  let regex = regexCache.get(pattern);
  if (regex === undefined) {
    try {
      regex = new RegExp(`^(?:${pattern})$`);
    } catch {
      throw new BadQuery(`bad regular expression "${pattern}"`);
    }
    if (regexCache.size > 1000) regexCache.clear();
    regexCache.set(pattern, regex);
  }
  return regex;
}

function matches(labels: Labels, matcher: Matcher): boolean {
  const value = labels[matcher.label] ?? '';
  switch (matcher.op) {
    case '=':
      return value === matcher.value;
    case '!=':
      return value !== matcher.value;
    case '=~':
      return fullMatch(matcher.value).test(value);
    case '!~':
      return !fullMatch(matcher.value).test(value);
  }
}

function selectorMatchers(selector: Selector): Matcher[] {
  return selector.metric === '' ? selector.matchers : [{ label: '__name__', op: '=', value: selector.metric }, ...selector.matchers];
}

/** Reads the graph of a window, at most once per window per request. */
type GraphOf = (startMs: number, endMs: number) => Promise<ServiceGraph>;

async function select(selector: Selector, graphOf: GraphOf, startMs: number, endMs: number): Promise<Sample[]> {
  const matchers = selectorMatchers(selector);
  if (!SERIES_NAMES.some((name) => matchers.every((m) => m.label !== '__name__' || matches({ __name__: name }, m)))) return [];
  return seriesOf(await graphOf(startMs, endMs)).filter((s) => matchers.every((m) => matches(s.labels, m)));
}

function withoutName(labels: Labels): Labels {
  const { __name__: _, ...rest } = labels;
  return rest;
}

function aggregate(op: AggregateOp, grouping: { labels: string[]; without: boolean } | null, samples: Sample[]): Sample[] {
  const groups = new Map<string, { labels: Labels; members: Sample[] }>();
  for (const sample of samples) {
    let labels: Labels;
    if (grouping === null) labels = {};
    else if (grouping.without) {
      labels = withoutName(sample.labels);
      for (const name of grouping.labels) delete labels[name];
    } else labels = Object.fromEntries(grouping.labels.filter((name) => sample.labels[name] !== undefined).map((name) => [name, sample.labels[name]!]));
    const key = labelKey(labels);
    let group = groups.get(key);
    if (group === undefined) groups.set(key, (group = { labels, members: [] }));
    group.members.push(sample);
  }
  return [...groups.values()].map(({ labels, members }) => {
    const values = members.map((m) => m.value);
    const value =
      op === 'sum' ? values.reduce((a, b) => a + b, 0)
      : op === 'count' ? values.length
      : op === 'avg' ? values.reduce((a, b) => a + b, 0) / values.length
      : op === 'min' ? Math.min(...values)
      : op === 'max' ? Math.max(...values)
      : 1;
    const sample: Sample = { labels, value };
    // The fine histogram follows a sum of _bucket samples that keeps `le` apart (so one bucket's samples
    // never add up with another's): histogram_quantile then reads the merged histogram.
    if (op === 'sum' && labels.le !== undefined && members.every((m) => m.histogram !== undefined)) {
      sample.histogram = members.length === 1 ? members[0]!.histogram! : mergeSparse(members.map((m) => m.histogram!));
    }
    return sample;
  });
}

/** Prometheus' bucket interpolation, for buckets that come without a histogram. */
function interpolatedQuantile(q: number, buckets: Array<{ le: number; count: number }>): number {
  buckets.sort((a, b) => a.le - b.le);
  const total = buckets.at(-1)?.count ?? 0;
  if (buckets.length < 2 || total === 0 || buckets.at(-1)!.le !== Infinity) return NaN;
  const rank = q * total;
  let i = buckets.findIndex((b) => b.count >= rank);
  if (i === buckets.length - 1) return buckets[buckets.length - 2]!.le;
  const lower = i === 0 ? 0 : buckets[i - 1]!.le;
  const below = i === 0 ? 0 : buckets[i - 1]!.count;
  const inBucket = buckets[i]!.count - below;
  return inBucket === 0 ? buckets[i]!.le : lower + (buckets[i]!.le - lower) * ((rank - below) / inBucket);
}

function histogramQuantile(q: number, samples: Sample[]): Sample[] {
  const groups = new Map<string, { labels: Labels; members: Sample[] }>();
  for (const sample of samples) {
    if (sample.labels.le === undefined) continue;
    const { le: _, ...labels } = withoutName(sample.labels);
    const key = labelKey(labels);
    let group = groups.get(key);
    if (group === undefined) groups.set(key, (group = { labels, members: [] }));
    group.members.push(sample);
  }
  return [...groups.values()].map(({ labels, members }) => {
    if (!(q >= 0 && q <= 1)) return { labels, value: q < 0 ? -Infinity : Infinity };
    const histogram = members[0]!.histogram;
    if (histogram !== undefined && members.every((m) => m.histogram === histogram)) {
      const [ms] = sparseQuantiles(histogram, [q]);
      return { labels, value: ms === null || ms === undefined ? NaN : ms / 1000 };
    }
    return { labels, value: interpolatedQuantile(q, members.map((m) => ({ le: m.labels.le === '+Inf' ? Infinity : Number(m.labels.le), count: m.value }))) };
  });
}

function arithmetic(op: '+' | '-' | '*' | '/', a: number, b: number): number {
  return op === '+' ? a + b : op === '-' ? a - b : op === '*' ? a * b : a / b;
}

function binary(op: '+' | '-' | '*' | '/' | 'or', left: Value, right: Value): Value {
  if (op === 'or') {
    if (left.kind !== 'vector' || right.kind !== 'vector') throw new BadQuery('"or" needs a series on both sides');
    const seen = new Set(left.samples.map((s) => labelKey(s.labels)));
    return { kind: 'vector', samples: [...left.samples, ...right.samples.filter((s) => !seen.has(labelKey(s.labels)))] };
  }
  if (left.kind === 'scalar' && right.kind === 'scalar') return { kind: 'scalar', value: arithmetic(op, left.value, right.value) };
  if (left.kind === 'scalar' && right.kind === 'vector') {
    return { kind: 'vector', samples: right.samples.map((s) => ({ labels: withoutName(s.labels), value: arithmetic(op, left.value, s.value) })) };
  }
  if (left.kind === 'vector' && right.kind === 'scalar') {
    return { kind: 'vector', samples: left.samples.map((s) => ({ labels: withoutName(s.labels), value: arithmetic(op, s.value, right.value) })) };
  }
  // Two vectors: one-to-one on identical label sets (the metric name aside), as PromQL matches by default.
  const rightByKey = new Map((right as { samples: Sample[] }).samples.map((s) => [labelKey(withoutName(s.labels)), s]));
  const samples: Sample[] = [];
  for (const s of (left as { samples: Sample[] }).samples) {
    const labels = withoutName(s.labels);
    const other = rightByKey.get(labelKey(labels));
    if (other !== undefined) samples.push({ labels, value: arithmetic(op, s.value, other.value) });
  }
  return { kind: 'vector', samples };
}

/** The value of `expr` at `atMs`. */
async function evaluate(expr: Expr, atMs: number, graphOf: GraphOf): Promise<Value> {
  switch (expr.type) {
    case 'number':
      return { kind: 'scalar', value: expr.value };
    case 'selector':
      return { kind: 'vector', samples: await select(expr, graphOf, atMs - LOOKBACK_MS, atMs) };
    case 'range-call': {
      const samples = await select(expr.selector, graphOf, atMs - expr.rangeMs, atMs);
      const perSecond = expr.fn === 'rate' || expr.fn === 'irate';
      return {
        kind: 'vector',
        samples: samples.map((s) => {
          const out: Sample = { labels: withoutName(s.labels), value: perSecond ? s.value / (expr.rangeMs / 1000) : s.value };
          if (s.histogram !== undefined) out.histogram = s.histogram;
          return out;
        }),
      };
    }
    case 'aggregate': {
      const inner = await evaluate(expr.expr, atMs, graphOf);
      if (inner.kind !== 'vector') throw new BadQuery(`${expr.op}() needs a series, not a number`);
      return { kind: 'vector', samples: aggregate(expr.op, expr.grouping, inner.samples) };
    }
    case 'histogram-quantile': {
      const inner = await evaluate(expr.expr, atMs, graphOf);
      if (inner.kind !== 'vector') throw new BadQuery('histogram_quantile() needs bucket series');
      return { kind: 'vector', samples: histogramQuantile(expr.quantile, inner.samples) };
    }
    case 'binary':
      return binary(expr.op, await evaluate(expr.left, atMs, graphOf), await evaluate(expr.right, atMs, graphOf));
  }
}

// ---- HTTP ---------------------------------------------------------------------------------------------------

/** A sample value as Prometheus writes it. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** A time parameter: Unix seconds (fractions allowed) or RFC 3339; ms out. */
function parseTimeParam(text: string | null, name: string, fallbackMs: number): number {
  if (text === null || text === '') return fallbackMs;
  const seconds = Number(text);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new BadQuery(`invalid parameter "${name}": cannot parse "${text}" to a valid timestamp`);
  return ms;
}

/** Query string and form body together: Grafana sends either, per its HTTP-method setting. */
function paramsOf(request: FastifyRequest): URLSearchParams {
  const params = new URLSearchParams(request.url.split('?')[1] ?? '');
  if (typeof request.body === 'string') for (const [name, value] of new URLSearchParams(request.body)) params.append(name, value);
  return params;
}

function requireQuery(params: URLSearchParams): Expr {
  const query = params.get('query');
  if (query === null) throw new BadQuery('invalid parameter "query": missing');
  return parsePromql(query);
}

/** A graph reader caching each window for the length of one request (range queries ask for many). */
function cachedGraphs(store: ClickHouseStore): GraphOf {
  const cache = new Map<string, Promise<ServiceGraph>>();
  return (startMs, endMs) => {
    // Rows are per minute: windows within the same minutes read the same rows.
    const key = `${Math.floor(startMs / 60_000)}:${Math.floor(endMs / 60_000)}`;
    let graph = cache.get(key);
    if (graph === undefined) cache.set(key, (graph = readServiceGraph(store, { startMs, endMs, signal: 'all' })));
    return graph;
  };
}

function vectorResult(value: Value, atMs: number): unknown {
  const t = atMs / 1000;
  if (value.kind === 'scalar') return { resultType: 'scalar', result: [t, formatValue(value.value)] };
  return { resultType: 'vector', result: value.samples.map((s) => ({ metric: s.labels, value: [t, formatValue(s.value)] })) };
}

/** The series that match[] selectors (any of them) pick over [start, end]; all of them without one. */
async function matchedSeries(params: URLSearchParams, graphOf: GraphOf): Promise<Sample[]> {
  const endMs = parseTimeParam(params.get('end'), 'end', Date.now());
  const startMs = parseTimeParam(params.get('start'), 'start', endMs - 3_600_000);
  const selectors = params.getAll('match[]').map((text) => {
    const expr = parsePromql(text);
    if (expr.type !== 'selector') throw new BadQuery(`match[] must be a series selector, got "${text}"`);
    return expr;
  });
  if (selectors.length === 0) return select({ type: 'selector', metric: '', matchers: [{ label: '__name__', op: '=~', value: '.+' }] }, graphOf, startMs, endMs);
  const seen = new Map<string, Sample>();
  for (const selector of selectors) for (const s of await select(selector, graphOf, startMs, endMs)) seen.set(labelKey(s.labels), s);
  return [...seen.values()];
}

export const prometheusApi: FastifyPluginAsync<{ store: ClickHouseStore }> = async (app, { store }) => {
  // Form posts (Grafana's default method is POST): kept as text and read together with the query string.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  // Prometheus' own error shape, which Grafana reads; the parameters are checked by hand since they may come
  // in the query string or the form body.
  app.setErrorHandler((error, _request, reply) => {
    const bad = error instanceof BadQuery || error instanceof PromqlError;
    const status = bad ? 400 : ((error as { statusCode?: number }).statusCode ?? 503);
    if (!bad && status >= 500) reply.log.error({ err: error }, 'prometheus api query failed');
    return reply.code(status).send({ status: 'error', errorType: bad || status < 500 ? 'bad_data' : 'execution', error: String((error as Error).message).split('\n')[0] });
  });
  const ok = (reply: FastifyReply, data: unknown) => reply.send({ status: 'success', data });

  const instant = async (request: FastifyRequest, reply: FastifyReply) => {
    const params = paramsOf(request);
    const expr = requireQuery(params);
    const atMs = parseTimeParam(params.get('time'), 'time', Date.now());
    return ok(reply, vectorResult(await evaluate(expr, atMs, cachedGraphs(store)), atMs));
  };

  const range = async (request: FastifyRequest, reply: FastifyReply) => {
    const params = paramsOf(request);
    const expr = requireQuery(params);
    const startMs = parseTimeParam(params.get('start'), 'start', NaN);
    const endMs = parseTimeParam(params.get('end'), 'end', NaN);
    const stepText = params.get('step');
    if (Number.isNaN(startMs) || Number.isNaN(endMs)) throw new BadQuery('invalid parameter "start"/"end": both are required');
    if (endMs < startMs) throw new BadQuery('invalid parameter "end": end timestamp must not be before start time');
    if (stepText === null) throw new BadQuery('invalid parameter "step": missing');
    const stepMs = parseDuration(stepText);
    if (!(stepMs > 0)) throw new BadQuery('invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer');
    if ((endMs - startMs) / stepMs > MAX_POINTS) throw new BadQuery(`exceeded maximum resolution of ${MAX_POINTS} points per timeseries. Try decreasing the query resolution (?step=XX)`);
    const graphOf = cachedGraphs(store);
    const series = new Map<string, { metric: Labels; values: Array<[number, string]> }>();
    let scalar: Array<[number, string]> | null = null;
    for (let t = startMs; t <= endMs; t += stepMs) {
      const value = await evaluate(expr, t, graphOf);
      if (value.kind === 'scalar') {
        (scalar ??= []).push([t / 1000, formatValue(value.value)]);
        continue;
      }
      for (const s of value.samples) {
        const key = labelKey(s.labels);
        let entry = series.get(key);
        if (entry === undefined) series.set(key, (entry = { metric: s.labels, values: [] }));
        entry.values.push([t / 1000, formatValue(s.value)]);
      }
    }
    // A number over time is a matrix of one series without labels, as Prometheus answers it.
    const result = scalar !== null ? [{ metric: {}, values: scalar }] : [...series.values()];
    return ok(reply, { resultType: 'matrix', result });
  };

  const labels = async (request: FastifyRequest, reply: FastifyReply) => {
    const names = new Set<string>();
    for (const s of await matchedSeries(paramsOf(request), cachedGraphs(store))) for (const name of Object.keys(s.labels)) names.add(name);
    return ok(reply, [...names].sort());
  };

  const labelValues = async (request: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) => {
    const { name } = request.params;
    const values = new Set<string>();
    for (const s of await matchedSeries(paramsOf(request), cachedGraphs(store))) {
      const value = s.labels[name];
      if (value !== undefined) values.add(value);
    }
    return ok(reply, [...values].sort());
  };

  const series = async (request: FastifyRequest, reply: FastifyReply) => {
    const params = paramsOf(request);
    if (params.getAll('match[]').length === 0) throw new BadQuery('no match[] parameter provided');
    return ok(reply, (await matchedSeries(params, cachedGraphs(store))).map((s) => s.labels));
  };

  for (const method of ['GET', 'POST'] as const) {
    app.route({ method, url: '/prometheus/api/v1/query', handler: instant });
    app.route({ method, url: '/prometheus/api/v1/query_range', handler: range });
    app.route({ method, url: '/prometheus/api/v1/labels', handler: labels });
    app.route({ method, url: '/prometheus/api/v1/series', handler: series });
  }
  app.get('/prometheus/api/v1/label/:name/values', labelValues);
};
