// Jaeger's v1 JSON API, in exactly the envelope Grafana's Jaeger data source and Jaeger UI read:
// GET /api/services, /api/services/:service/operations, /api/operations, /api/traces, /api/traces/:id.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Attribute } from '../collector/model.ts';
import type { ClickHouseStore } from '../collector/storage/store.ts';
import { dependencyLinks } from './service-graph.ts';
import { SPAN_KIND_BY_NAME, resourceKey, type ReadSpan, type TraceReader, type TraceQuery } from './trace-reader.ts';

// ---- Jaeger's JSON model (jaeger internal/uimodel) ----

export type JaegerTagType = 'string' | 'bool' | 'int64' | 'float64' | 'binary';
export interface JaegerTag {
  key: string;
  type: JaegerTagType;
  value: string | number | boolean;
}
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: Array<{ refType: 'CHILD_OF' | 'FOLLOWS_FROM'; traceID: string; spanID: string }>;
  startTime: number;
  duration: number;
  tags: JaegerTag[];
  logs: Array<{ timestamp: number; fields: JaegerTag[] }>;
  processID: string;
  warnings: string[] | null;
  flags: number;
}
export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags: JaegerTag[] }>;
  warnings: string[] | null;
}

export const KIND_NAMES = ['', 'internal', 'server', 'client', 'producer', 'consumer'] as const;
const STATUS_NAMES = ['', 'OK', 'ERROR'] as const;

export function jaegerTag(a: Attribute): JaegerTag {
  switch (a.type) {
    case 'bool':
      return { key: a.key, type: 'bool', value: a.value === 'true' };
    case 'int': {
      const n = Number(a.value);
      // Beyond 2^53 a JSON number would silently change the value; keep the digits as text.
      return Number.isSafeInteger(n) ? { key: a.key, type: 'int64', value: n } : { key: a.key, type: 'string', value: a.value };
    }
    case 'double':
      return { key: a.key, type: 'float64', value: Number(a.value) };
    case 'bytes':
      return { key: a.key, type: 'binary', value: a.value };
    default:
      return { key: a.key, type: 'string', value: a.value };
  }
}

const micros = (nanos: bigint) => Number(nanos / 1000n);

/** Spans of one trace (any order) → Jaeger's trace, with one process per distinct resource. */
export function toJaegerTrace(spans: readonly ReadSpan[]): JaegerTrace {
  const processes: JaegerTrace['processes'] = {};
  const processIds = new Map<string, string>();
  const jaegerSpans = spans.map((s): JaegerSpan => {
    const key = resourceKey(s);
    let processID = processIds.get(key);
    if (!processID) {
      processID = `p${processIds.size + 1}`;
      processIds.set(key, processID);
      processes[processID] = {
        serviceName: s.service,
        tags: s.resourceAttributes.filter((a) => a.key !== 'service.name').map(jaegerTag),
      };
    }
    const tags = s.attributes.map(jaegerTag);
    if (s.kind !== 0) tags.push({ key: 'span.kind', type: 'string', value: KIND_NAMES[s.kind] });
    if (s.statusCode !== 0) tags.push({ key: 'otel.status_code', type: 'string', value: STATUS_NAMES[s.statusCode] });
    if (s.statusCode === 2) tags.push({ key: 'error', type: 'bool', value: true });
    if (s.statusMessage) tags.push({ key: 'otel.status_description', type: 'string', value: s.statusMessage });
    if (s.scopeName) tags.push({ key: 'otel.scope.name', type: 'string', value: s.scopeName });
    if (s.scopeVersion) tags.push({ key: 'otel.scope.version', type: 'string', value: s.scopeVersion });
    if (s.traceState) tags.push({ key: 'w3c.tracestate', type: 'string', value: s.traceState });
    const references: JaegerSpan['references'] = [];
    if (s.parentSpanId) references.push({ refType: 'CHILD_OF', traceID: s.traceId, spanID: s.parentSpanId });
    for (const link of s.links) references.push({ refType: 'FOLLOWS_FROM', traceID: link.traceId, spanID: link.spanId });
    return {
      traceID: s.traceId,
      spanID: s.spanId,
      operationName: s.name,
      references,
      startTime: micros(s.startTimeUnixNano),
      duration: micros(s.durationNanos),
      tags,
      logs: s.events.map((e) => ({
        timestamp: micros(e.timeUnixNano),
        fields: [{ key: 'event', type: 'string' as const, value: e.name }, ...e.attributes.map(jaegerTag)],
      })),
      processID,
      warnings: null,
      flags: s.flags,
    };
  });
  return { traceID: spans[0]?.traceId ?? '', spans: jaegerSpans, processes, warnings: null };
}

// ---- request parsing ----

const GO_DURATION_NS: Record<string, bigint> = { ns: 1n, us: 1_000n, 'µs': 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };

/** A Go duration string ("100ms", "1.5s", "1h30m", "500us") in nanoseconds; a bare number is µs. */
export function parseGoDuration(text: string, param = 'duration'): bigint {
  if (/^[0-9]+$/.test(text)) return BigInt(text) * 1000n;
  const parts = [...text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) throw new JaegerQueryError(`${param} is not a duration: "${text}" (use e.g. 100ms, 1.5s, 500us)`);
  let total = 0n;
  for (const [, amount, unit] of parts) {
    const [whole, frac = ''] = amount!.split('.');
    const scale = GO_DURATION_NS[unit!]!;
    total += BigInt(whole!) * scale + (frac ? (BigInt(frac) * scale) / 10n ** BigInt(frac.length) : 0n);
  }
  return total;
}

export class JaegerQueryError extends Error {}

function parseTags(tags: string | undefined, tag: string | string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (tags) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(tags);
    } catch {
      throw new JaegerQueryError(`tags must be a JSON object of strings, got ${tags}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new JaegerQueryError('tags must be a JSON object');
    for (const [k, v] of Object.entries(parsed)) out[k] = String(v);
  }
  // Older clients send repeated tag=key:value.
  for (const pair of tag === undefined ? [] : Array.isArray(tag) ? tag : [tag]) {
    const colon = pair.indexOf(':');
    if (colon <= 0) throw new JaegerQueryError(`tag must be key:value, got "${pair}"`);
    out[pair.slice(0, colon)] = pair.slice(colon + 1);
  }
  return out;
}

const envelope = <T>(data: T, errors: Array<{ code: number; msg: string }> | null = null) => ({
  data,
  total: Array.isArray(data) ? data.length : 0,
  limit: 0,
  offset: 0,
  errors,
});

const DEFAULT_LOOKBACK_US = 3_600_000_000n;
const MicrosString = Type.String({ pattern: '^[0-9]+$' });

const SearchQuery = Type.Object({
  service: Type.Optional(Type.String()),
  operation: Type.Optional(Type.String()),
  tags: Type.Optional(Type.String()),
  tag: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
  minDuration: Type.Optional(Type.String()),
  maxDuration: Type.Optional(Type.String()),
  start: Type.Optional(MicrosString),
  end: Type.Optional(MicrosString),
  lookback: Type.Optional(Type.String()),
  limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 10000 })),
});

export interface JaegerApiOptions {
  reader: TraceReader;
  /** For /api/dependencies, answered from the service graph's edge rows. */
  store: ClickHouseStore;
}

export const jaegerApi: FastifyPluginAsyncTypebox<JaegerApiOptions> = async (app, { reader, store }) => {
  // Jaeger answers errors inside its envelope; Grafana shows errors[0].msg.
  app.setErrorHandler((error, _request, reply) => {
    const status = error instanceof JaegerQueryError ? 400 : ((error as { statusCode?: number }).statusCode ?? 500);
    if (status >= 500) reply.log.error({ err: error }, 'jaeger api query failed');
    const msg = String((error as Error).message).split('\n')[0] ?? '';
    return reply.code(status).send(envelope(null, [{ code: status, msg }]));
  });

  app.get('/api/services', async () => envelope(await reader.services()));

  // Jaeger's dependency graph (Grafana's "dependency graph" query type): service names, as /api/services
  // lists them, with call counts over [endTs - lookback, endTs] (Unix ms; default the last 24 hours).
  app.get(
    '/api/dependencies',
    { schema: { querystring: Type.Object({ endTs: Type.Optional(Type.Integer({ minimum: 0 })), lookback: Type.Optional(Type.Integer({ minimum: 1 })) }) } },
    async (request) => {
      const links = await dependencyLinks(store, request.query.endTs ?? Date.now(), request.query.lookback ?? 86_400_000);
      return envelope(links.map(({ parent, child, callCount }) => ({ parent, child, callCount })));
    },
  );

  app.get(
    '/api/services/:service/operations',
    { schema: { params: Type.Object({ service: Type.String() }) } },
    async (request) => envelope([...new Set((await reader.operations(request.params.service)).map((o) => o.name))]),
  );

  app.get(
    '/api/operations',
    { schema: { querystring: Type.Object({ service: Type.String({ minLength: 1 }), spanKind: Type.Optional(Type.String()) }) } },
    async (request) => {
      const { service, spanKind } = request.query;
      const kind = spanKind ? SPAN_KIND_BY_NAME[spanKind] : undefined;
      if (spanKind && kind === undefined) throw new JaegerQueryError(`unknown spanKind "${spanKind}"; use server, client, producer, consumer or internal`);
      const ops = await reader.operations(service, kind);
      return envelope(ops.map((o) => ({ name: o.name, spanKind: KIND_NAMES[o.kind] })));
    },
  );

  app.get('/api/traces', { schema: { querystring: SearchQuery } }, async (request) => {
    const q = request.query;
    const endUs = q.end ? BigInt(q.end) : BigInt(Date.now()) * 1000n;
    const lookbackUs = q.lookback && q.lookback !== 'custom' ? parseGoDuration(q.lookback, 'lookback') / 1000n : DEFAULT_LOOKBACK_US;
    const startUs = q.start ? BigInt(q.start) : endUs - lookbackUs;
    if (startUs > endUs) throw new JaegerQueryError('start must not be after end');
    const query: TraceQuery = {
      service: q.service || undefined,
      operation: q.operation || undefined,
      tags: parseTags(q.tags, q.tag),
      minDurationNanos: q.minDuration ? parseGoDuration(q.minDuration, 'minDuration') : undefined,
      maxDurationNanos: q.maxDuration ? parseGoDuration(q.maxDuration, 'maxDuration') : undefined,
      startUnixNano: startUs * 1000n,
      endUnixNano: endUs * 1000n,
      limit: q.limit || 100,
    };
    const ids = await reader.searchTraceIds(query);
    const traces = await reader.traces(ids);
    return envelope(ids.flatMap((id) => (traces.has(id) ? [toJaegerTrace(traces.get(id)!)] : [])));
  });

  app.get(
    '/api/traces/:traceId',
    {
      schema: {
        params: Type.Object({ traceId: Type.String({ pattern: '^[0-9a-fA-F]{1,32}$' }) }),
        querystring: Type.Object({ start: Type.Optional(MicrosString), end: Type.Optional(MicrosString) }),
      },
    },
    async (request, reply) => {
      // Jaeger accepts ids without leading zeros (and 64-bit ids); we store 128-bit ids.
      const id = request.params.traceId.toLowerCase().padStart(32, '0');
      const { start, end } = request.query;
      const spans = await reader.trace(id, {
        ...(start ? { startUnixNano: BigInt(start) * 1000n } : {}),
        ...(end ? { endUnixNano: BigInt(end) * 1000n } : {}),
      });
      if (spans.length === 0) return reply.code(404).send(envelope(null, [{ code: 404, msg: `trace not found: ${id}` }]));
      return envelope([toJaegerTrace(spans)]);
    },
  );
};
