// A subset of Tempo's HTTP API (grafana/tempo docs/sources/tempo/api_docs) under /tempo/ on the query port,
// so Grafana's built-in Tempo data source works with URL http://HOST:16686/tempo:
//   GET /tempo/api/echo                          → "echo" (Grafana's health check)
//   GET /tempo/api/status/buildinfo              → {version, revision, branch, buildUser, buildDate, goVersion}
//   GET /tempo/api/traces/<id>                   → {"batches":[resourceSpans…]}      (protobuf: tempopb.Trace)
//   GET /tempo/api/v2/traces/<id>                → {"trace":{"resourceSpans":[…]}}  (protobuf: tempopb.TraceByIDResponse)
//   GET /tempo/api/search?q=|tags=               → {"traces":[…],"metrics":{…}}     (TraceQL subset: query/traceql.ts)
//   GET /tempo/api/search/tags, /api/v2/search/tags, /api/search/tag/<t>/values, /api/v2/search/tag/<t>/values
// Grafana's Go backend fetches a trace as protobuf: v2 first (decoded as TraceByIDResponse), v1 (decoded as
// Trace) when v2 answers 404 — pkg/tsdb/tempo/trace.go. Errors are plain text, 400 for a bad request, as Tempo's.
import { readFileSync } from 'node:fs';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import protobuf from 'protobufjs';
import { Type } from 'typebox';
import type { AttributeType } from '../collector/model.ts';
import { OTLP_PROTO_DIR } from '../collector/otlp/traces.ts';
import { type ClickHouseStore, sqlInt, sqlString } from '../collector/storage/store.ts';
import { JaegerQueryError, KIND_NAMES, parseGoDuration } from './jaeger.ts';
import { otlpAttribute, type OtlpKeyValue, type OtlpResourceSpans, toResourceSpans } from './jaeger-v3.ts';
import type { ReadSpan, TraceReader } from './trace-reader.ts';
import {
  type Condition,
  type Field,
  filterSql,
  INTRINSIC_TAGS,
  KIND_CODES,
  parseField,
  parseTraceQL,
  STATUS_CODES,
  type SpansetFilter,
  TraceQLError,
  traceDurationSql,
  windowSql,
} from './traceql.ts';

/** A request Tempo would refuse: answered 400 with the message as plain text. */
export class TempoRequestError extends Error {}

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const NS_PER_S = 1_000_000_000n;
const DEFAULT_WINDOW_NS = 3_600n * NS_PER_S;
const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 1_000;
const DEFAULT_SPSS = 3;
const MAX_SPSS = 100;
const DEFAULT_TAG_LIMIT = 1_000;
const MAX_TAG_LIMIT = 10_000;
const ROOT_NOT_RECEIVED = '<root span not yet received>';
const ZERO_PARENT = `toFixedString('\\0\\0\\0\\0\\0\\0\\0\\0', 8)`;

// ---- protobuf: OTLP TracesData is wire-identical to tempopb.Trace (field 1 = repeated ResourceSpans) ----

const protoRoot = new protobuf.Root();
protoRoot.resolvePath = (_origin, target) => (target.startsWith(OTLP_PROTO_DIR) ? target : OTLP_PROTO_DIR + target);
protoRoot.loadSync('opentelemetry/proto/trace/v1/trace.proto');
// tempopb.TraceByIDResponse {Trace trace = 1; TraceByIDMetrics metrics = 2; PartialStatus status = 3; string message = 4}
// (grafana/tempo pkg/tempopb/tempo.proto); metrics left out, status COMPLETE = 0 is proto3's default.
protoRoot.define('tempopb').add(
  new protobuf.Type('TraceByIDResponse')
    .add(new protobuf.Field('trace', 1, '.opentelemetry.proto.trace.v1.TracesData'))
    .add(new protobuf.Field('status', 3, 'int32'))
    .add(new protobuf.Field('message', 4, 'string')),
);
protoRoot.resolveAll();
export const TracesData = protoRoot.lookupType('opentelemetry.proto.trace.v1.TracesData');
export const TraceByIDResponse = protoRoot.lookupType('tempopb.TraceByIDResponse');

const idBytes = (hex: string) => Buffer.from(hex, 'hex');

/** OTLP/JSON resourceSpans as protobufjs' fromObject takes them: ids as bytes (64-bit numbers stay decimal text). */
function protoObject(resourceSpans: OtlpResourceSpans[]): object {
  return {
    resourceSpans: resourceSpans.map((rs) => ({
      ...rs,
      scopeSpans: rs.scopeSpans.map((ss) => ({
        ...ss,
        spans: ss.spans.map((span) => ({
          ...span,
          traceId: idBytes(span.traceId),
          spanId: idBytes(span.spanId),
          ...(span.parentSpanId ? { parentSpanId: idBytes(span.parentSpanId) } : {}),
          ...(span.links ? { links: span.links.map((l) => ({ ...l, traceId: idBytes(l.traceId), spanId: idBytes(l.spanId) })) } : {}),
        })),
      })),
    })),
  };
}

export function encodeTraceProto(resourceSpans: OtlpResourceSpans[], version: 'v1' | 'v2'): Uint8Array {
  const trace = TracesData.fromObject(protoObject(resourceSpans));
  if (version === 'v1') return TracesData.encode(trace).finish();
  return TraceByIDResponse.encode(TraceByIDResponse.create({ trace })).finish();
}

// ---- parameters ----

/**
 * Every parameter the Tempo API reads: all text, as Tempo takes them; each is checked where it is read, with
 * a message in Tempo's words (integerParam, epochSeconds, durationParam, …). Others are ignored, as by Tempo.
 */
const TempoQuery = Type.Object({
  q: Type.Optional(Type.String()),
  tags: Type.Optional(Type.String()),
  limit: Type.Optional(Type.String()),
  spss: Type.Optional(Type.String()),
  start: Type.Optional(Type.String()),
  end: Type.Optional(Type.String()),
  minDuration: Type.Optional(Type.String()),
  maxDuration: Type.Optional(Type.String()),
  scope: Type.Optional(Type.String()),
});
const TraceParams = Type.Object({ traceId: Type.String() });
const TagParams = Type.Object({ tag: Type.String() });

type Query = Record<string, string | undefined>;

/** Unix seconds (Tempo's `start`/`end`) as nanoseconds; undefined when absent. */
function epochSeconds(query: Query, name: string): bigint | undefined {
  const text = query[name];
  if (text === undefined || text === '') return undefined;
  if (!/^[0-9]+$/.test(text)) throw new TempoRequestError(`invalid ${name}: "${text}" (Unix epoch seconds)`);
  return BigInt(text) * NS_PER_S;
}

/** The window a search or tag lookup covers: start..end, default the last hour. */
function windowOf(query: Query): { startUnixNano: bigint; endUnixNano: bigint } {
  const end = epochSeconds(query, 'end') ?? BigInt(Date.now()) * 1_000_000n;
  const start = epochSeconds(query, 'start') ?? end - DEFAULT_WINDOW_NS;
  if (start > end) throw new TempoRequestError('invalid start: start must not be after end');
  return { startUnixNano: start, endUnixNano: end };
}

function integerParam(query: Query, name: string, fallback: number, max: number): number {
  const text = query[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n < 1) throw new TempoRequestError(`invalid ${name}: "${text}" (a positive integer)`);
  return Math.min(n, max);
}

function durationParam(query: Query, name: string): bigint | undefined {
  const text = query[name];
  if (text === undefined || text === '') return undefined;
  if (/^[0-9]+$/.test(text)) throw new TempoRequestError(`invalid ${name}: "${text}" needs a unit (e.g. 100ms, 1.5s)`);
  try {
    return parseGoDuration(text, name);
  } catch (error) {
    if (error instanceof JaegerQueryError) throw new TempoRequestError(`invalid ${name}: "${text}" (a Go duration such as 100ms, 1.5s, 2m)`);
    throw error;
  }
}

/** Tempo's `tags` parameter: logfmt `key=value key2="a value"`. */
export function parseLogfmt(text: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  const pattern = /\s*([^\s="]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s"]*))/gy;
  let match: RegExpExecArray | null;
  let consumed = 0;
  while ((match = pattern.exec(text)) !== null) {
    pairs.push([match[1]!, match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : (match[3] ?? '')]);
    consumed = pattern.lastIndex;
  }
  if (text.slice(consumed).trim() !== '') throw new TempoRequestError(`invalid tags: "${text}" (logfmt: key=value key2="a value")`);
  return pairs;
}

/** A `tags` term: case-insensitive substring of the value, as Tempo's tag search documents. */
function tagSql(key: string, value: string): string {
  const v = sqlString(value);
  const contains = (expr: string) => `positionCaseInsensitiveUTF8(${expr}, ${v}) > 0`;
  if (key === 'service.name') return contains('service');
  if (key === 'name') return contains('name');
  if (key === 'status.code' || key === 'status') {
    const code = STATUS_CODES[value.toLowerCase() as keyof typeof STATUS_CODES];
    if (code === undefined) throw new TempoRequestError(`invalid tags: ${key} is one of ok, error, unset`);
    return `status_code = ${sqlInt(code)}`;
  }
  const k = sqlString(key);
  return `((mapContains(attributes, ${k}) AND ${contains(`attributes[${k}]`)}) OR (mapContains(resource_attributes, ${k}) AND ${contains(`resource_attributes[${k}]`)}))`;
}

function parseQuery(q: string): SpansetFilter {
  try {
    return parseTraceQL(q);
  } catch (error) {
    if (error instanceof TraceQLError) throw new TempoRequestError(error.message);
    throw error;
  }
}

// ---- search results (TraceSearchMetadata, grafana/tempo pkg/tempopb/tempo.proto; 64-bit numbers as strings) ----

interface SearchSpan {
  spanID: string;
  name: string;
  startTimeUnixNano: string;
  durationNanos: string;
  attributes: OtlpKeyValue[];
}
interface SpanSet {
  spans: SearchSpan[];
  matched: number;
}
export interface TraceSearchMetadata {
  traceID: string;
  rootServiceName: string;
  rootTraceName?: string;
  startTimeUnixNano: string;
  durationMs: number;
  spanSet: SpanSet;
  spanSets: SpanSet[];
  serviceStats: Record<string, { spanCount: number; errorCount?: number }>;
}

const stringAttr = (key: string, value: string): OtlpKeyValue => ({ key, value: { stringValue: value } });

/** What a matched span shows in the result: its service, and the value of every field the query named. */
function searchSpan(span: ReadSpan, conditions: readonly Condition[]): SearchSpan {
  const attributes = new Map<string, OtlpKeyValue>([['service.name', stringAttr('service.name', span.service)]]);
  const show = (field: Field) => {
    if (field.kind === 'intrinsic') {
      if (field.name === 'status') attributes.set('status', stringAttr('status', ['unset', 'ok', 'error'][span.statusCode]!));
      if (field.name === 'kind') attributes.set('kind', stringAttr('kind', KIND_NAMES[span.kind] || 'unspecified'));
      if (field.name === 'statusMessage') attributes.set('statusMessage', stringAttr('statusMessage', span.statusMessage));
      return;
    }
    const fromSpan = field.scope !== 'resource' ? span.attributes.find((a) => a.key === field.name) : undefined;
    const fromResource = field.scope !== 'span' ? span.resourceAttributes.find((a) => a.key === field.name) : undefined;
    const found = fromSpan ?? fromResource;
    if (found) attributes.set(found.key, otlpAttribute(found));
  };
  for (const c of conditions) show(c.field);
  return {
    spanID: span.spanId,
    name: span.name,
    startTimeUnixNano: span.startTimeUnixNano.toString(),
    durationNanos: span.durationNanos.toString(),
    attributes: [...attributes.values()],
  };
}

function traceMetadata(traceId: string, spans: readonly ReadSpan[], matchedIds: readonly string[], matched: number, conditions: readonly Condition[]): TraceSearchMetadata {
  let start = spans[0]!.startTimeUnixNano;
  let end = start;
  const serviceStats: TraceSearchMetadata['serviceStats'] = {};
  for (const s of spans) {
    if (s.startTimeUnixNano < start) start = s.startTimeUnixNano;
    if (s.startTimeUnixNano + s.durationNanos > end) end = s.startTimeUnixNano + s.durationNanos;
    const stats = (serviceStats[s.service] ??= { spanCount: 0 });
    stats.spanCount++;
    if (s.statusCode === 2) stats.errorCount = (stats.errorCount ?? 0) + 1;
  }
  const root = spans.find((s) => s.parentSpanId === '');
  const wanted = new Set(matchedIds);
  const spanSet: SpanSet = {
    spans: spans.filter((s) => wanted.has(s.spanId)).map((s) => searchSpan(s, conditions)),
    matched,
  };
  return {
    traceID: traceId,
    rootServiceName: root ? root.service : ROOT_NOT_RECEIVED,
    ...(root ? { rootTraceName: root.name } : {}),
    startTimeUnixNano: start.toString(),
    durationMs: Number((end - start) / 1_000_000n),
    // `spanSet` is the deprecated single form older Grafana versions read; newer ones read `spanSets`.
    spanSet,
    spanSets: [spanSet],
    serviceStats,
  };
}

// ---- tags ----

const TEMPO_TYPES: Partial<Record<AttributeType, string>> = { string: 'string', int: 'int', double: 'float', bool: 'bool' };
const tempoType = (stored: string) => TEMPO_TYPES[stored as AttributeType] ?? 'string';

type TagScope = 'resource' | 'span' | 'intrinsic';
const TAG_SCOPES: readonly TagScope[] = ['resource', 'span', 'intrinsic'];
/** Scopes Tempo knows but meshlens has nothing in: answered empty. */
const EMPTY_SCOPES = ['event', 'link', 'instrumentation'];

/** The scopes a `scope` parameter selects (none / "all": every one meshlens has). */
function scopesOf(query: Query): TagScope[] | 'empty' {
  const scope = query.scope;
  if (scope === undefined || scope === '' || scope === 'all') return [...TAG_SCOPES];
  if ((TAG_SCOPES as readonly string[]).includes(scope)) return [scope as TagScope];
  if (EMPTY_SCOPES.includes(scope)) return 'empty';
  throw new TempoRequestError(`invalid scope: "${scope}" (one of resource, span, intrinsic, event, link, instrumentation, all)`);
}

/** Tempo's tag filter `q`: conditions to hold on the spans the tags come from. Unparseable = no filter, as Tempo does. */
function tagFilterSql(query: Query, window: { startUnixNano: bigint; endUnixNano: bigint }): string {
  const q = query.q;
  if (!q) return '';
  try {
    return filterSql(parseTraceQL(q), window).map((c) => ` AND ${c}`).join('');
  } catch (error) {
    if (error instanceof TraceQLError) return '';
    throw error;
  }
}

export const tempoApi: FastifyPluginAsyncTypebox<{ reader: TraceReader; store: ClickHouseStore }> = async (app, { reader, store }) => {
  app.setErrorHandler((error, _request, reply) => {
    const err = error as Error & { statusCode?: number; validation?: unknown };
    const status = error instanceof TempoRequestError || err.validation ? 400 : (err.statusCode ?? 500);
    if (status >= 500) reply.log.error({ err: error }, 'tempo api query failed');
    return reply.code(status).header('content-type', 'text/plain; charset=utf-8').send(String(err.message).split('\n')[0] ?? '');
  });

  app.get('/tempo/api/echo', async (_request, reply) => reply.header('content-type', 'text/plain; charset=utf-8').send('echo'));

  app.get('/tempo/api/status/buildinfo', async () => ({
    version: VERSION,
    revision: '',
    branch: '',
    buildUser: '',
    buildDate: '',
    goVersion: '',
  }));

  // ---- trace by id ----

  async function traceById(request: { params: { traceId: string }; query: Query; headers: { accept?: string | undefined } }, reply: FastifyReply, version: 'v1' | 'v2') {
    const raw = request.params.traceId;
    if (!/^[0-9a-fA-F]{1,32}$/.test(raw)) throw new TempoRequestError(`invalid trace id: "${raw}" (hex, at most 32 digits)`);
    // 64-bit ids (and ids without leading zeros) are stored left-padded to 128 bits.
    const id = raw.toLowerCase().padStart(32, '0');
    const query = request.query;
    const start = epochSeconds(query, 'start');
    const end = epochSeconds(query, 'end');
    let spans = await reader.trace(id);
    // Tempo looks only in the blocks of start..end: a trace outside that window is not found.
    if (spans.length > 0 && (start !== undefined || end !== undefined)) {
      const first = spans.reduce((m, s) => (s.startTimeUnixNano < m ? s.startTimeUnixNano : m), spans[0]!.startTimeUnixNano);
      const last = spans.reduce((m, s) => (s.startTimeUnixNano + s.durationNanos > m ? s.startTimeUnixNano + s.durationNanos : m), 0n);
      if ((end !== undefined && first > end + NS_PER_S) || (start !== undefined && last < start)) spans = [];
    }
    if (spans.length === 0) return reply.code(404).header('content-type', 'text/plain; charset=utf-8').send('trace not found');
    const resourceSpans = toResourceSpans([spans]);
    if ((request.headers.accept ?? '').includes('application/protobuf')) {
      return reply.header('content-type', 'application/protobuf').send(Buffer.from(encodeTraceProto(resourceSpans, version)));
    }
    return version === 'v1' ? { batches: resourceSpans } : { trace: { resourceSpans } };
  }
  const traceRoute = { schema: { params: TraceParams, querystring: TempoQuery } };
  app.get('/tempo/api/traces/:traceId', traceRoute, (request, reply) => traceById(request, reply, 'v1'));
  app.get('/tempo/api/v2/traces/:traceId', traceRoute, (request, reply) => traceById(request, reply, 'v2'));

  // ---- search ----

  const queryRoute = { schema: { querystring: TempoQuery } };
  app.get('/tempo/api/search', queryRoute, async (request) => {
    const query = request.query;
    const window = windowOf(query);
    const limit = integerParam(query, 'limit', DEFAULT_LIMIT, MAX_LIMIT);
    const spss = integerParam(query, 'spss', DEFAULT_SPSS, MAX_SPSS);
    const filter: SpansetFilter = query.q ? parseQuery(query.q) : { conditions: [] };
    const where = [windowSql(window), ...filterSql(filter, window)];
    for (const [key, value] of query.tags ? parseLogfmt(query.tags) : []) where.push(tagSql(key, value));
    // minDuration / maxDuration bound the whole trace's duration, as in Tempo's tag search.
    const minDuration = durationParam(query, 'minDuration');
    const maxDuration = durationParam(query, 'maxDuration');
    if (minDuration !== undefined) where.push(traceDurationSql('>=', minDuration, window));
    if (maxDuration !== undefined) where.push(traceDurationSql('<=', maxDuration, window));

    const rows = await store.query<{ trace_hex: string; matched: string; span_ids: string[]; total: string }>(
      `SELECT lower(hex(trace_id)) AS trace_hex, max(ts) AS latest, count() AS matched,
         groupArray(${sqlInt(spss)})(lower(hex(span_id))) AS span_ids, count() OVER () AS total
       FROM spans WHERE ${where.join(' AND ')}
       GROUP BY trace_id ORDER BY latest DESC, trace_hex LIMIT ${sqlInt(limit)}`,
    );
    const traces = await reader.traces(rows.map((r) => r.trace_hex));
    const results = rows.flatMap((row) => {
      const spans = traces.get(row.trace_hex);
      return spans?.length ? [traceMetadata(row.trace_hex, spans, row.span_ids, Number(row.matched), filter.conditions)] : [];
    });
    // Newest trace first, as Tempo answers (and Grafana sorts) by start time.
    results.sort((a, b) => (BigInt(b.startTimeUnixNano) > BigInt(a.startTimeUnixNano) ? 1 : BigInt(b.startTimeUnixNano) < BigInt(a.startTimeUnixNano) ? -1 : 0));
    return {
      traces: results,
      // inspectedTraces: the traces that matched in the window (the limit cuts the list, not this count).
      metrics: { inspectedTraces: Number(rows[0]?.total ?? 0), inspectedBytes: '0', completedJobs: 1, totalJobs: 1 },
    };
  });

  // ---- tag names ----

  async function tagNames(scope: TagScope, query: Query): Promise<string[]> {
    if (scope === 'intrinsic') return INTRINSIC_TAGS;
    const window = windowOf(query);
    const limit = integerParam(query, 'limit', DEFAULT_TAG_LIMIT, MAX_TAG_LIMIT);
    const keys =
      scope === 'span'
        ? 'CAST(mapKeys(attributes), \'Array(String)\')'
        : `arrayConcat(CAST(mapKeys(resource_attributes), 'Array(String)'), if(service != '', ['service.name'], []))`;
    const rows = await store.query<{ tag: string }>(
      `SELECT DISTINCT arrayJoin(${keys}) AS tag FROM spans WHERE ${windowSql(window)}${tagFilterSql(query, window)}
       ORDER BY tag LIMIT ${sqlInt(limit)}`,
    );
    return rows.map((r) => r.tag);
  }

  app.get('/tempo/api/search/tags', queryRoute, async (request) => {
    const query = request.query;
    const scopes = scopesOf(query);
    if (scopes === 'empty') return { tagNames: [] };
    // Without a scope Tempo lists the resource and span tags.
    const wanted = query.scope ? scopes : scopes.filter((s) => s !== 'intrinsic');
    const names = new Set<string>();
    for (const scope of wanted) for (const name of await tagNames(scope, query)) names.add(name);
    return { tagNames: [...names].sort() };
  });

  app.get('/tempo/api/v2/search/tags', queryRoute, async (request) => {
    const query = request.query;
    const scopes = scopesOf(query);
    if (scopes === 'empty') return { scopes: [{ name: query.scope, tags: [] }] };
    const out: Array<{ name: TagScope; tags: string[] }> = [];
    for (const scope of scopes) out.push({ name: scope, tags: await tagNames(scope, query) });
    return { scopes: out };
  });

  // ---- tag values ----

  /** Distinct values (with their stored type) of one attribute, over span and/or resource attributes. */
  async function attributeValues(field: Extract<Field, { kind: 'attribute' }>, query: Query): Promise<Array<{ type: string; value: string }>> {
    const window = windowOf(query);
    const limit = integerParam(query, 'limit', DEFAULT_TAG_LIMIT, MAX_TAG_LIMIT);
    const where = `${windowSql(window)}${tagFilterSql(query, window)}`;
    const k = sqlString(field.name);
    const parts: string[] = [];
    if (field.scope !== 'resource') {
      parts.push(`SELECT attributes[${k}] AS v, toString(attribute_types[${k}]) AS t FROM spans WHERE ${where} AND mapContains(attributes, ${k})`);
    }
    if (field.scope !== 'span') {
      parts.push(
        field.name === 'service.name'
          ? `SELECT toString(service) AS v, 'string' AS t FROM spans WHERE ${where} AND service != ''`
          : `SELECT resource_attributes[${k}] AS v, toString(resource_types[${k}]) AS t FROM spans WHERE ${where} AND mapContains(resource_attributes, ${k})`,
      );
    }
    const rows = await store.query<{ v: string; t: string }>(
      `SELECT v, any(t) AS t FROM (${parts.join(' UNION ALL ')}) GROUP BY v ORDER BY v LIMIT ${sqlInt(limit)}`,
    );
    return rows.map((r) => ({ type: tempoType(r.t), value: r.v }));
  }

  async function intrinsicValues(name: string, query: Query): Promise<Array<{ type: string; value: string }>> {
    if (name === 'status') return Object.keys(STATUS_CODES).sort().map((value) => ({ type: 'keyword', value }));
    if (name === 'kind') return Object.keys(KIND_CODES).sort().map((value) => ({ type: 'keyword', value }));
    const column = { name: 'name', statusMessage: 'status_message', rootServiceName: 'service', rootName: 'name' }[name];
    if (!column) return []; // durations: no value list
    const window = windowOf(query);
    const limit = integerParam(query, 'limit', DEFAULT_TAG_LIMIT, MAX_TAG_LIMIT);
    const rootOnly = name.startsWith('root') ? ` AND parent_span_id = ${ZERO_PARENT}` : '';
    const rows = await store.query<{ v: string }>(
      `SELECT DISTINCT toString(${column}) AS v FROM spans WHERE ${windowSql(window)}${rootOnly}${tagFilterSql(query, window)} AND v != ''
       ORDER BY v LIMIT ${sqlInt(limit)}`,
    );
    return rows.map((r) => ({ type: 'string', value: r.v }));
  }

  const tagRoute = { schema: { params: TagParams, querystring: TempoQuery } };
  app.get('/tempo/api/search/tag/:tag/values', tagRoute, async (request) => {
    const tag = request.params.tag;
    const query = request.query;
    // v1 names are unscoped attribute names; `name` (the span name) and `status.code` as Tempo's tag search reads them.
    if (tag === 'name') return { tagValues: (await intrinsicValues('name', query)).map((v) => v.value) };
    if (tag === 'status.code') return { tagValues: Object.keys(STATUS_CODES).sort() };
    const values = await attributeValues({ kind: 'attribute', scope: 'unscoped', name: tag }, query);
    return { tagValues: values.map((v) => v.value) };
  });

  app.get('/tempo/api/v2/search/tag/:tag/values', tagRoute, async (request) => {
    const tag = request.params.tag;
    const query = request.query;
    let field: Field;
    try {
      field = parseField(tag);
    } catch (error) {
      if (error instanceof TraceQLError) throw new TempoRequestError(`invalid tag: "${tag}" (a TraceQL identifier such as resource.service.name, span.http.method, .service.name, name, status)`);
      throw error;
    }
    return { tagValues: field.kind === 'intrinsic' ? await intrinsicValues(field.name, query) : await attributeValues(field, query) };
  });
};
