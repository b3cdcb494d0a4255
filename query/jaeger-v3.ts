// Jaeger's v3 query API under /api/v3/: the JSON the query service's gRPC gateway serves, which
// Grafana's Jaeger data source calls with the `jaegerEnableGrpcEndpoint` feature toggle:
//   GET /api/v3/services                 → {"services":[…]}
//   GET /api/v3/operations?service=      → {"operations":[{"name","spanKind"}]}
//   GET /api/v3/traces?query.…           → {"result":{"resourceSpans":[…]}}   (OTLP/JSON)
//   GET /api/v3/traces/{traceId}         → the same, 404 when the trace is not stored
// Errors are the gateway's {"error":{"grpcCode","httpCode","message","httpStatus"}}.
// Parameters come in Jaeger's snake_case (what Grafana sends) or the camelCase newer Jaeger uses.
import { STATUS_CODES } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Attribute } from '../collector/model.ts';
import { JaegerQueryError, KIND_NAMES, parseGoDuration } from './jaeger.ts';
import { SPAN_KIND_BY_NAME, resourceKey, type ReadSpan, type TraceReader } from './trace-reader.ts';

// ---- OTLP/JSON (opentelemetry-proto docs/specification.md: hex ids, int enums, 64-bit ints as strings) ----

export interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string;
  doubleValue?: number;
  bytesValue?: string;
  arrayValue?: { values: OtlpAnyValue[] };
  kvlistValue?: { values: OtlpKeyValue[] };
}
export interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  traceState?: string;
  parentSpanId?: string;
  flags?: number;
  name: string;
  kind?: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: OtlpKeyValue[];
  droppedAttributesCount?: number;
  events?: Array<{ timeUnixNano: string; name: string; attributes?: OtlpKeyValue[]; droppedAttributesCount?: number }>;
  droppedEventsCount?: number;
  links?: Array<{ traceId: string; spanId: string; traceState?: string; attributes?: OtlpKeyValue[]; droppedAttributesCount?: number }>;
  droppedLinksCount?: number;
  status: { code?: number; message?: string };
}
export interface OtlpResourceSpans {
  resource: { attributes: OtlpKeyValue[] };
  scopeSpans: Array<{ scope: { name?: string; version?: string }; spans: OtlpSpan[] }>;
}

/** The plain JSON an array or kvlist attribute is stored as (collector/otlp/traces-json.ts), back to AnyValue. */
function anyValueOfPlain(value: unknown): OtlpAnyValue {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') return Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value };
  if (Array.isArray(value)) return { arrayValue: { values: value.map(anyValueOfPlain) } };
  if (typeof value === 'object' && value !== null) {
    return { kvlistValue: { values: Object.entries(value).map(([key, v]) => ({ key, value: anyValueOfPlain(v) })) } };
  }
  return {};
}

export function otlpAttribute(a: Attribute): OtlpKeyValue {
  switch (a.type) {
    case 'bool':
      return { key: a.key, value: { boolValue: a.value === 'true' } };
    case 'int':
      return { key: a.key, value: { intValue: a.value } };
    case 'double':
      return { key: a.key, value: { doubleValue: Number(a.value) } };
    case 'bytes':
      return { key: a.key, value: { bytesValue: a.value } };
    case 'array':
    case 'kvlist': {
      let parsed: unknown;
      try {
        parsed = JSON.parse(a.value);
      } catch {
        return { key: a.key, value: { stringValue: a.value } };
      }
      return { key: a.key, value: anyValueOfPlain(parsed) };
    }
    default:
      return { key: a.key, value: { stringValue: a.value } };
  }
}

const attributesOf = (list: readonly Attribute[]) => (list.length > 0 ? { attributes: list.map(otlpAttribute) } : {});
const countOf = <K extends string>(key: K, n: number) => (n > 0 ? ({ [key]: n } as Record<K, number>) : {});

function otlpSpan(s: ReadSpan): OtlpSpan {
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    ...(s.traceState ? { traceState: s.traceState } : {}),
    ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
    ...(s.flags ? { flags: s.flags } : {}),
    name: s.name,
    ...(s.kind ? { kind: s.kind } : {}),
    startTimeUnixNano: s.startTimeUnixNano.toString(),
    endTimeUnixNano: (s.startTimeUnixNano + s.durationNanos).toString(),
    ...attributesOf(s.attributes),
    ...countOf('droppedAttributesCount', s.droppedAttributesCount),
    ...(s.events.length > 0
      ? {
          events: s.events.map((e) => ({
            timeUnixNano: e.timeUnixNano.toString(),
            name: e.name,
            ...attributesOf(e.attributes),
            ...countOf('droppedAttributesCount', e.droppedAttributesCount),
          })),
        }
      : {}),
    ...countOf('droppedEventsCount', s.droppedEventsCount),
    ...(s.links.length > 0
      ? {
          links: s.links.map((l) => ({
            traceId: l.traceId,
            spanId: l.spanId,
            ...(l.traceState ? { traceState: l.traceState } : {}),
            ...attributesOf(l.attributes),
            ...countOf('droppedAttributesCount', l.droppedAttributesCount),
          })),
        }
      : {}),
    ...countOf('droppedLinksCount', s.droppedLinksCount),
    status: { ...(s.statusCode ? { code: s.statusCode } : {}), ...(s.statusMessage ? { message: s.statusMessage } : {}) },
  };
}

/**
 * Traces (each a list of spans, in the order given) → OTLP resourceSpans: per trace, one entry per
 * distinct resource, inside it one per scope, spans in their stored order.
 */
export function toResourceSpans(traces: Iterable<readonly ReadSpan[]>): OtlpResourceSpans[] {
  const out: OtlpResourceSpans[] = [];
  for (const spans of traces) {
    const byResource = new Map<string, { entry: OtlpResourceSpans; scopes: Map<string, OtlpSpan[]> }>();
    for (const s of spans) {
      const key = resourceKey(s);
      let resource = byResource.get(key);
      if (!resource) {
        const attributes = s.resourceAttributes.map(otlpAttribute);
        // A span stored without a service.name (a Zipkin span with no localEndpoint) still has its service column.
        if (s.service && !s.resourceAttributes.some((a) => a.key === 'service.name')) {
          attributes.unshift({ key: 'service.name', value: { stringValue: s.service } });
        }
        resource = { entry: { resource: { attributes }, scopeSpans: [] }, scopes: new Map() };
        byResource.set(key, resource);
        out.push(resource.entry);
      }
      const scopeKey = s.scopeName + '\u0000' + s.scopeVersion;
      let list = resource.scopes.get(scopeKey);
      if (!list) {
        list = [];
        resource.scopes.set(scopeKey, list);
        resource.entry.scopeSpans.push({
          scope: { ...(s.scopeName ? { name: s.scopeName } : {}), ...(s.scopeVersion ? { version: s.scopeVersion } : {}) },
          spans: list,
        });
      }
      list.push(otlpSpan(s));
    }
  }
  return out;
}

// ---- request parsing ----

const RFC3339 = /^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?([Zz]|[+-][0-9]{2}:[0-9]{2})$/;

/**
 * An RFC 3339 time (Go's RFC3339Nano: up to 9 fraction digits) in Unix nanoseconds. Grafana appends
 * these unencoded, so a `+01:00` offset arrives as ` 01:00`: taken as the `+` it was.
 */
export function parseRfc3339Nanos(text: string, param: string): bigint {
  const match = RFC3339.exec(text.replace(/ ([0-9]{2}:[0-9]{2})$/, '+$1'));
  if (!match) throw new JaegerQueryError(`${param} is not an RFC 3339 time: "${text}" (use e.g. 2024-05-01T10:00:00.000000000Z)`);
  const [, y, mo, d, h, mi, s, fraction = '', zone] = match;
  const offsetMinutes = zone === 'Z' || zone === 'z' ? 0 : (zone!.startsWith('-') ? -1 : 1) * (Number(zone!.slice(1, 3)) * 60 + Number(zone!.slice(4, 6)));
  const seconds = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) / 1000 - offsetMinutes * 60;
  return BigInt(seconds) * 1_000_000_000n + BigInt(fraction.padEnd(9, '0'));
}

/** The first parameter present among the spellings of one name. */
function pick(query: Record<string, string | undefined>, ...names: string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = query[name];
    if (value !== undefined && value !== '') return { name, value };
  }
  return undefined;
}

function parseAttributes(param: { name: string; value: string } | undefined): Record<string, string> {
  if (!param) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(param.value);
  } catch {
    throw new JaegerQueryError(`${param.name} must be a JSON object of strings, e.g. {"http.status_code":"500"}; got ${param.value}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new JaegerQueryError(`${param.name} must be a JSON object`);
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]));
}

const GRPC_CODE_BY_HTTP: Record<number, number> = { 400: 3, 404: 5, 429: 8, 503: 14, 504: 4 };

/** The gRPC gateway's error body (Grafana: pkg/jaeger/types/grpc_types.go). */
export function gatewayError(httpCode: number, message: string) {
  return { error: { grpcCode: GRPC_CODE_BY_HTTP[httpCode] ?? (httpCode >= 500 ? 13 : 2), httpCode, message, httpStatus: STATUS_CODES[httpCode] ?? '' } };
}

const Text = Type.Optional(Type.String());
const SearchQuery = Type.Object({
  'query.service_name': Text,
  'query.serviceName': Text,
  'query.operation_name': Text,
  'query.operationName': Text,
  'query.attributes': Text,
  'query.start_time_min': Text,
  'query.startTimeMin': Text,
  'query.start_time_max': Text,
  'query.startTimeMax': Text,
  'query.duration_min': Text,
  'query.durationMin': Text,
  'query.duration_max': Text,
  'query.durationMax': Text,
  'query.num_traces': Text,
  'query.numTraces': Text,
  'query.search_depth': Text,
  'query.searchDepth': Text,
});
const TraceQuery = Type.Object({ start_time: Text, startTime: Text, end_time: Text, endTime: Text, raw_traces: Text });

const DEFAULT_LOOKBACK_NS = 3_600_000_000_000n;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 10_000;

export const jaegerV3Api: FastifyPluginAsyncTypebox<{ reader: TraceReader }> = async (app, { reader }) => {
  app.setErrorHandler((error, _request, reply) => {
    const status = error instanceof JaegerQueryError ? 400 : ((error as { statusCode?: number }).statusCode ?? 500);
    if (status >= 500) reply.log.error({ err: error }, 'jaeger v3 api query failed');
    return reply.code(status).send(gatewayError(status, String((error as Error).message).split('\n')[0] ?? ''));
  });

  app.get('/api/v3/services', async () => ({ services: await reader.services() }));

  app.get(
    '/api/v3/operations',
    { schema: { querystring: Type.Object({ service: Type.String({ minLength: 1 }), span_kind: Text, spanKind: Text }) } },
    async (request) => {
      const { service } = request.query;
      const spanKind = request.query.span_kind || request.query.spanKind;
      const kind = spanKind ? SPAN_KIND_BY_NAME[spanKind.toLowerCase()] : undefined;
      if (spanKind && kind === undefined) throw new JaegerQueryError(`unknown span_kind "${spanKind}"; use server, client, producer, consumer or internal`);
      const operations = await reader.operations(service, kind);
      return { operations: operations.map((o) => ({ name: o.name, spanKind: KIND_NAMES[o.kind] })) };
    },
  );

  app.get('/api/v3/traces', { schema: { querystring: SearchQuery } }, async (request) => {
    const q = request.query as Record<string, string | undefined>;
    const startParam = pick(q, 'query.start_time_min', 'query.startTimeMin');
    const endParam = pick(q, 'query.start_time_max', 'query.startTimeMax');
    const endNs = endParam ? parseRfc3339Nanos(endParam.value, endParam.name) : BigInt(Date.now()) * 1_000_000n;
    const startNs = startParam ? parseRfc3339Nanos(startParam.value, startParam.name) : endNs - DEFAULT_LOOKBACK_NS;
    if (startNs > endNs) throw new JaegerQueryError('query.start_time_min must not be after query.start_time_max');
    const minDuration = pick(q, 'query.duration_min', 'query.durationMin');
    const maxDuration = pick(q, 'query.duration_max', 'query.durationMax');
    const limitParam = pick(q, 'query.num_traces', 'query.numTraces', 'query.search_depth', 'query.searchDepth');
    const limit = limitParam ? Number(limitParam.value) : DEFAULT_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new JaegerQueryError(`${limitParam!.name} must be an integer from 1 to ${MAX_LIMIT}`);
    const ids = await reader.searchTraceIds({
      service: pick(q, 'query.service_name', 'query.serviceName')?.value,
      operation: pick(q, 'query.operation_name', 'query.operationName')?.value,
      tags: parseAttributes(pick(q, 'query.attributes')),
      minDurationNanos: minDuration ? parseGoDuration(minDuration.value, minDuration.name) : undefined,
      maxDurationNanos: maxDuration ? parseGoDuration(maxDuration.value, maxDuration.name) : undefined,
      startUnixNano: startNs,
      endUnixNano: endNs,
      limit,
    });
    const traces = await reader.traces(ids);
    return { result: { resourceSpans: toResourceSpans(ids.flatMap((id) => (traces.has(id) ? [traces.get(id)!] : []))) } };
  });

  app.get(
    '/api/v3/traces/:traceId',
    { schema: { params: Type.Object({ traceId: Type.String({ pattern: '^[0-9a-fA-F]{1,32}$' }) }), querystring: TraceQuery } },
    async (request, reply) => {
      // 64-bit ids (and ids without leading zeros) are stored left-padded to 128 bits.
      const id = request.params.traceId.toLowerCase().padStart(32, '0');
      const q = request.query as Record<string, string | undefined>;
      const start = pick(q, 'start_time', 'startTime');
      const end = pick(q, 'end_time', 'endTime');
      const spans = await reader.trace(id, {
        ...(start ? { startUnixNano: parseRfc3339Nanos(start.value, start.name) } : {}),
        ...(end ? { endUnixNano: parseRfc3339Nanos(end.value, end.name) } : {}),
      });
      if (spans.length === 0) return reply.code(404).send(gatewayError(404, `trace not found: ${id}`));
      return { result: { resourceSpans: toResourceSpans([spans]) } };
    },
  );
};
