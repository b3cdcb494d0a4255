// Zipkin's v2 read API (openzipkin/zipkin-api zipkin2-api.yaml), what Grafana's Zipkin data source and
// the Zipkin UI call: services, span names, remote services, trace search, trace by id, several traces by
// id, autocomplete, dependencies — answered from the same span table as the Jaeger APIs.
//
// Reading a span back as Zipkin's v2 model reverses what the Zipkin receiver stored
// (collector/zipkin/convert.ts), so a Zipkin span comes back as it was sent, except for Zipkin's own
// normalisation (a 128-bit trace id whose upper half is zero is given as 16 hex, as Zipkin does); `debug`
// and `shared` come back from the span's `zipkin.debug` / `zipkin.shared` attributes. For spans from
// other senders:
//   localEndpoint   resource `zipkin.service_name` (else `service.name`), `network.local.address` (ipv4
//                   or ipv6 by its form), `network.local.port`
//   remoteEndpoint  span attributes `peer.service`, `network.peer.address`, `network.peer.port` (these
//                   leave the tags)
//   kind            CLIENT/SERVER/PRODUCER/CONSUMER; INTERNAL and unspecified have none
//   tags            span attributes as text; then the resource's other attributes (except the
//                   namespace/version the receiver derived from a span's identity tags); then
//                   `otel.status_code` and `error` (= the status message, or "true") for an OTLP status
//                   the span's own tags do not already say; `otel.scope.name`/`.version`
//   annotations     events: `value` = the name, followed by the attributes as JSON when there are any
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Attribute } from '../collector/model.ts';
import type { ClickHouseStore } from '../collector/storage/store.ts';
import { IDENTITY_TAG_KEYS, serviceIdentity } from '../collector/zipkin/service-identity.ts';
import { dependencyLinks } from './service-graph.ts';
import type { ReadSpan, TraceReader } from './trace-reader.ts';

// ---- Zipkin's v2 JSON model ----

export interface ZipkinEndpointJson {
  serviceName?: string;
  ipv4?: string;
  ipv6?: string;
  port?: number;
}
export interface ZipkinSpanJson {
  traceId: string;
  id: string;
  parentId?: string;
  name?: string;
  kind?: 'CLIENT' | 'SERVER' | 'PRODUCER' | 'CONSUMER';
  /** Microseconds since the epoch. */
  timestamp: number;
  /** Microseconds; absent when zero. */
  duration?: number;
  localEndpoint?: ZipkinEndpointJson;
  remoteEndpoint?: ZipkinEndpointJson;
  annotations?: Array<{ timestamp: number; value: string }>;
  tags?: Record<string, string>;
  debug?: true;
  shared?: true;
}

const ZIPKIN_KINDS = [undefined, undefined, 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'] as const;
/** The span attributes the receiver made from remoteEndpoint: they go back there. */
const REMOTE_KEYS = new Set(['peer.service', 'network.peer.address', 'network.peer.port']);
/** The resource attributes the receiver made from localEndpoint. */
const LOCAL_KEYS = new Set(['service.name', 'zipkin.service_name', 'network.local.address', 'network.local.port']);
const ZERO_HALF = '0000000000000000';

const micros = (nanos: bigint) => Number(nanos / 1000n);

/** A stored trace id as Zipkin gives it: 16 hex when its upper 64 bits are zero (Span.normalizeTraceId). */
export function zipkinTraceId(traceId: string): string {
  return traceId.length === 32 && traceId.startsWith(ZERO_HALF) ? traceId.slice(16) : traceId;
}

function endpoint(serviceName: string | undefined, address: string | undefined, port: string | undefined): ZipkinEndpointJson | undefined {
  const portNumber = port === undefined ? 0 : Number(port);
  const out: ZipkinEndpointJson = {
    ...(serviceName ? { serviceName } : {}),
    ...(address ? (address.includes(':') ? { ipv6: address } : { ipv4: address }) : {}),
    ...(Number.isInteger(portNumber) && portNumber > 0 && portNumber <= 65535 ? { port: portNumber } : {}),
  };
  return Object.keys(out).length > 0 ? out : undefined;
}

const valueOf = (list: readonly Attribute[], key: string) => list.find((a) => a.key === key)?.value;

/** One stored span → Zipkin's v2 JSON span (see the mapping at the top). */
export function toZipkinSpan(s: ReadSpan): ZipkinSpanJson {
  // No prototype: a tag named __proto__ is just a tag.
  const tags = Object.create(null) as Record<string, string>;
  let peerService: string | undefined;
  let peerAddress: string | undefined;
  let peerPort: string | undefined;
  let shared = false;
  let debug = false;
  for (const a of s.attributes) {
    // Zipkin's flags, as the receiver kept them.
    if (a.key === 'zipkin.shared' && a.type === 'bool') {
      shared = a.value === 'true';
      continue;
    }
    if (a.key === 'zipkin.debug' && a.type === 'bool') {
      debug = a.value === 'true';
      continue;
    }
    if (a.key === 'peer.service') peerService = a.value;
    else if (a.key === 'network.peer.address') peerAddress = a.value;
    else if (a.key === 'network.peer.port') peerPort = a.value;
    if (!REMOTE_KEYS.has(a.key)) tags[a.key] = a.value;
  }
  // A port the sender sent as a tag is text; one taken from remoteEndpoint an int: a tag stays a tag.
  const portAttribute = s.attributes.find((a) => a.key === 'network.peer.port');
  if (portAttribute && portAttribute.type !== 'int') {
    tags['network.peer.port'] = portAttribute.value;
    peerPort = undefined;
  }
  const resource = s.resourceAttributes;
  const identity = serviceIdentity(valueOf(resource, 'zipkin.service_name') ?? valueOf(resource, 'service.name') ?? '', {
    canonicalService: tags[IDENTITY_TAG_KEYS.canonicalService] ?? '',
    namespace: tags[IDENTITY_TAG_KEYS.namespace] ?? '',
    canonicalRevision: tags[IDENTITY_TAG_KEYS.canonicalRevision] ?? '',
    nodeId: tags[IDENTITY_TAG_KEYS.nodeId] ?? '',
  });
  for (const a of resource) {
    if (LOCAL_KEYS.has(a.key) || Object.hasOwn(tags, a.key)) continue;
    // What the receiver derived from the span's own tags is not a tag of its own.
    if (a.key === 'k8s.namespace.name' && a.value === identity.namespace) continue;
    if (a.key === 'service.version' && a.value === identity.version) continue;
    tags[a.key] = a.value;
  }
  if (s.statusCode !== 0 && !Object.hasOwn(tags, 'error')) {
    tags['otel.status_code'] = s.statusCode === 2 ? 'ERROR' : 'OK';
    if (s.statusCode === 2) tags.error = s.statusMessage || 'true';
  }
  if (s.scopeName) tags['otel.scope.name'] = s.scopeName;
  if (s.scopeVersion) tags['otel.scope.version'] = s.scopeVersion;

  const local = endpoint(
    valueOf(resource, 'zipkin.service_name') ?? valueOf(resource, 'service.name'),
    valueOf(resource, 'network.local.address'),
    valueOf(resource, 'network.local.port'),
  );
  const remote = endpoint(peerService, peerAddress, peerPort);
  const kind = ZIPKIN_KINDS[s.kind];
  const duration = micros(s.durationNanos);
  return {
    traceId: zipkinTraceId(s.traceId),
    ...(s.parentSpanId ? { parentId: s.parentSpanId } : {}),
    id: s.spanId,
    ...(kind ? { kind } : {}),
    ...(s.name ? { name: s.name } : {}),
    timestamp: micros(s.startTimeUnixNano),
    ...(duration > 0 ? { duration } : {}),
    ...(local ? { localEndpoint: local } : {}),
    ...(remote ? { remoteEndpoint: remote } : {}),
    ...(s.events.length > 0
      ? {
          annotations: s.events.map((e) => ({
            timestamp: micros(e.timeUnixNano),
            value: e.attributes.length > 0 ? `${e.name} ${JSON.stringify(Object.fromEntries(e.attributes.map((a) => [a.key, a.value])))}` : e.name,
          })),
        }
      : {}),
    ...(Object.keys(tags).length > 0 ? { tags } : {}),
    ...(debug ? { debug: true as const } : {}),
    ...(shared ? { shared: true as const } : {}),
  };
}

// ---- request parsing ----

/** A Zipkin client error: answered 400 with the message as plain text, as Zipkin's server does. */
class ZipkinQueryError extends Error {}

const HEX_ID = /^[0-9a-f]{1,32}$/;

/** A trace id as a client may give it (Span.normalizeTraceId: 1–32 hex) → the stored 32-hex form. */
function storedTraceId(text: string): string {
  const id = text.toLowerCase();
  if (!HEX_ID.test(id)) throw new ZipkinQueryError(`${text} should be a 1 to 32 character lower-hex string with no prefix`);
  if (/^0+$/.test(id)) throw new ZipkinQueryError('traceId is all zeros');
  return id.padStart(32, '0');
}

/** `error and http.method=GET` → terms; `key=` (nothing after `=`) means the key alone, as in Zipkin. */
export function parseAnnotationQuery(text: string): Array<{ key: string; value?: string }> {
  const terms: Array<{ key: string; value?: string }> = [];
  for (const part of text.split(' and ')) {
    const eq = part.indexOf('=');
    const key = (eq === -1 ? part : part.slice(0, eq)).trim();
    const value = eq === -1 ? '' : part.slice(eq + 1).trim();
    if (key === '') continue;
    terms.push(value === '' ? { key } : { key, value });
  }
  return terms;
}

/** `all` is how the Zipkin UI says "any" (QueryRequest treats it as absent). */
const filterValue = (value: string | undefined) => (value && value !== 'all' ? value : undefined);

const QUERY_LOOKBACK_MS = 86_400_000;
const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 10_000;
const MAX_TRACE_MANY = 1_000;

const ServiceQuery = Type.Object({ serviceName: Type.String({ minLength: 1 }) });
const SearchQuery = Type.Object({
  serviceName: Type.Optional(Type.String()),
  remoteServiceName: Type.Optional(Type.String()),
  spanName: Type.Optional(Type.String()),
  annotationQuery: Type.Optional(Type.String()),
  minDuration: Type.Optional(Type.Integer({ minimum: 1 })),
  maxDuration: Type.Optional(Type.Integer({ minimum: 1 })),
  endTs: Type.Optional(Type.Integer({ minimum: 1 })),
  lookback: Type.Optional(Type.Integer({ minimum: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT })),
});

export interface ZipkinApiOptions {
  reader: TraceReader;
  /** For /api/v2/dependencies, answered from the service graph's edge rows. */
  store: ClickHouseStore;
}

export const zipkinApi: FastifyPluginAsyncTypebox<ZipkinApiOptions> = async (app, { reader, store }) => {
  // Zipkin's server answers a bad request with 400 and the reason as plain text.
  app.setErrorHandler((error, _request, reply) => {
    const status = error instanceof ZipkinQueryError ? 400 : ((error as { statusCode?: number }).statusCode ?? 500);
    if (status >= 500) reply.log.error({ err: error }, 'zipkin api query failed');
    return reply.code(status).type('text/plain; charset=utf-8').send(String((error as Error).message).split('\n')[0]);
  });

  app.get(
    '/api/v2/dependencies',
    { schema: { querystring: Type.Object({ endTs: Type.Optional(Type.Integer({ minimum: 0 })), lookback: Type.Optional(Type.Integer({ minimum: 1 })) }) } },
    async (request) => dependencyLinks(store, request.query.endTs ?? Date.now(), request.query.lookback ?? QUERY_LOOKBACK_MS),
  );

  app.get('/api/v2/services', async () => reader.services());

  app.get('/api/v2/spans', { schema: { querystring: ServiceQuery } }, async (request) => [
    ...new Set((await reader.operations(request.query.serviceName)).map((o) => o.name).filter((name) => name !== '')),
  ]);

  app.get('/api/v2/remoteServices', { schema: { querystring: ServiceQuery } }, async (request) =>
    reader.remoteServices(request.query.serviceName, (BigInt(Date.now()) - BigInt(QUERY_LOOKBACK_MS)) * 1_000_000n),
  );

  // No autocomplete keys are configured (Zipkin's AUTOCOMPLETE_KEYS is empty by default): the UI then
  // offers free-text annotation queries.
  app.get('/api/v2/autocompleteKeys', async () => []);
  app.get('/api/v2/autocompleteValues', { schema: { querystring: Type.Object({ key: Type.String() }) } }, async () => []);

  app.get('/api/v2/traces', { schema: { querystring: SearchQuery } }, async (request) => {
    const q = request.query;
    if (q.maxDuration !== undefined && q.minDuration === undefined) throw new ZipkinQueryError('maxDuration is only valid with minDuration');
    if (q.maxDuration !== undefined && q.minDuration !== undefined && q.maxDuration < q.minDuration) throw new ZipkinQueryError('maxDuration < minDuration');
    const endMs = BigInt(q.endTs ?? Date.now());
    const lookbackMs = BigInt(q.lookback ?? QUERY_LOOKBACK_MS);
    const remoteService = filterValue(q.remoteServiceName);
    const annotationTerms = q.annotationQuery ? parseAnnotationQuery(q.annotationQuery) : [];
    if (remoteService) annotationTerms.push({ key: 'peer.service', value: remoteService });
    const ids = await reader.searchTraceIds({
      service: filterValue(q.serviceName),
      operation: filterValue(q.spanName),
      annotationTerms,
      minDurationNanos: q.minDuration === undefined ? undefined : BigInt(q.minDuration) * 1000n,
      maxDurationNanos: q.maxDuration === undefined ? undefined : BigInt(q.maxDuration) * 1000n,
      startUnixNano: (endMs - lookbackMs) * 1_000_000n,
      endUnixNano: endMs * 1_000_000n,
      limit: q.limit ?? DEFAULT_LIMIT,
    });
    const traces = await reader.traces(ids);
    return ids.flatMap((id) => (traces.has(id) ? [traces.get(id)!.map(toZipkinSpan)] : []));
  });

  app.get('/api/v2/trace/:traceId', { schema: { params: Type.Object({ traceId: Type.String() }) } }, async (request, reply) => {
    const spans = await reader.trace(storedTraceId(request.params.traceId));
    if (spans.length === 0) return reply.code(404).type('text/plain; charset=utf-8').send(`${request.params.traceId.toLowerCase()} not found`);
    return spans.map(toZipkinSpan);
  });

  // Several traces at once (the Zipkin UI's trace comparison): the ones found, in the order asked.
  app.get('/api/v2/traceMany', { schema: { querystring: Type.Object({ traceIds: Type.String({ minLength: 1 }) }) } }, async (request) => {
    const ids = [...new Set(request.query.traceIds.split(',').map((id) => storedTraceId(id.trim())))];
    if (ids.length > MAX_TRACE_MANY) throw new ZipkinQueryError(`at most ${MAX_TRACE_MANY} traceIds at once`);
    const traces = await reader.traces(ids);
    return ids.flatMap((id) => (traces.has(id) ? [traces.get(id)!.map(toZipkinSpan)] : []));
  });
};
