// Reads spans back out of ClickHouse: the trace searches and fetches every trace API needs,
// returning spans in the collector's model so each API family only formats them.
import type { Attribute, AttributeType, SpanKind, StatusCode } from '../collector/model.ts';
import type { StoredEvent, StoredLink } from '../collector/span-rows.ts';
import { type ClickHouseStore, sqlInt, sqlString, sqlTraceId } from '../collector/storage/store.ts';

/** A span as read back: the stored model with its resource flattened in. */
export interface ReadSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  service: string;
  namespace: string;
  name: string;
  kind: SpanKind;
  startTimeUnixNano: bigint;
  durationNanos: bigint;
  statusCode: StatusCode;
  statusMessage: string;
  flags: number;
  attributes: Attribute[];
  resourceAttributes: Attribute[];
  scopeName: string;
  scopeVersion: string;
  events: Array<{ timeUnixNano: bigint; name: string; attributes: Attribute[]; droppedAttributesCount: number }>;
  links: Array<{ traceId: string; spanId: string; traceState: string; attributes: Attribute[]; droppedAttributesCount: number }>;
  droppedAttributesCount: number;
  droppedEventsCount: number;
  droppedLinksCount: number;
}

/** What a trace search filters on; every field optional except the window. */
export interface TraceQuery {
  service?: string | undefined;
  operation?: string | undefined;
  /** Each key must equal its value on one span (span or resource attribute, or span.kind / error). */
  tags?: Record<string, string> | undefined;
  /**
   * Zipkin's annotationQuery terms, each to hold on the matching span: `key` alone = a span attribute of
   * that name, an event (annotation) of that name, or — for `error` — a failed span; `key=value` = a span
   * or resource attribute with exactly that value (for `error`, also a failed span with that message).
   */
  annotationTerms?: Array<{ key: string; value?: string | undefined }> | undefined;
  minDurationNanos?: bigint | undefined;
  maxDurationNanos?: bigint | undefined;
  startUnixNano: bigint;
  endUnixNano: bigint;
  limit: number;
}

/**
 * One span as the query returns it: one tuple per row (a JSON array is about half the bytes of an object
 * with 22 keys, and parsing the answer of a 10k-span trace was a fifth of its fetch).
 */
interface SpanRow {
  span: [
    traceHex: string,
    spanHex: string,
    parentHex: string,
    traceState: string,
    service: string,
    namespace: string,
    name: string,
    kind: number,
    startNs: string,
    durationText: string,
    statusCode: number,
    statusMessage: string,
    flags: number,
    attributes: Record<string, string>,
    attributeTypes: Record<string, string>,
    /** Identifies the resource (service, namespace, attributes): spans of one resource share one list. */
    resourceKey: string,
    resourceAttributes: Record<string, string>,
    resourceTypes: Record<string, string>,
    scopeName: string,
    scopeVersion: string,
    events: string,
    links: string,
    droppedCounts: number[],
  ];
}

// Aliases must not reuse column names: ClickHouse would then apply them in WHERE too.
const SPAN_COLUMNS = `tuple(lower(hex(trace_id)), lower(hex(span_id)),
  if(parent_span_id = toFixedString('\\0\\0\\0\\0\\0\\0\\0\\0', 8), '', lower(hex(parent_span_id))),
  trace_state, service, namespace, name, kind, toString(toUnixTimestamp64Nano(ts)), toString(duration_ns),
  status_code, status_message, flags, attributes, attribute_types,
  toString(sipHash64(service, namespace, resource_attributes, resource_types)), resource_attributes, resource_types,
  scope_name, scope_version, events, links, dropped_counts) AS span`;

const resourceKeys = new WeakMap<readonly Attribute[], string>();

/**
 * A key equal for the spans of one resource (service and attributes), for APIs that group spans by resource
 * (Jaeger's processes, OTLP's resourceSpans): the reader gives those spans one attribute list, so the key
 * of a list is worked out once, not per span.
 */
export function resourceKey(span: ReadSpan): string {
  let key = resourceKeys.get(span.resourceAttributes);
  if (key === undefined) resourceKeys.set(span.resourceAttributes, (key = JSON.stringify(span.resourceAttributes)));
  return span.service + '\u0000' + key;
}

export const SPAN_KIND_BY_NAME: Record<string, SpanKind> = {
  unspecified: 0, internal: 1, server: 2, client: 3, producer: 4, consumer: 5,
};

export class TraceReader {
  constructor(private readonly store: ClickHouseStore) {}

  async services(): Promise<string[]> {
    const rows = await this.store.query<{ service: string }>('SELECT DISTINCT service FROM operations ORDER BY service');
    return rows.map((r) => r.service);
  }

  async operations(service: string, kind?: SpanKind): Promise<Array<{ name: string; kind: SpanKind }>> {
    const rows = await this.store.query<{ name: string; kind: number }>(
      `SELECT DISTINCT name, kind FROM operations WHERE service = ${sqlString(service)}
       ${kind === undefined ? '' : `AND kind = ${sqlInt(kind)}`} ORDER BY name, kind`,
    );
    return rows.map((r) => ({ name: r.name, kind: Number(r.kind) as SpanKind }));
  }

  /** All spans of one trace, oldest first; [] when it is not stored. */
  async trace(traceId: string, window?: { startUnixNano?: bigint; endUnixNano?: bigint }): Promise<ReadSpan[]> {
    const traces = await this.traces([traceId], window);
    return traces.get(traceId) ?? [];
  }

  /** Spans of several traces at once, keyed by trace id. */
  async traces(traceIds: string[], window?: { startUnixNano?: bigint; endUnixNano?: bigint }): Promise<Map<string, ReadSpan[]>> {
    const byTrace = new Map<string, ReadSpan[]>();
    if (traceIds.length === 0) return byTrace;
    const ids = traceIds.map(sqlTraceId).join(', ');
    // The trace index gives the traces' time bounds, so only the day partitions holding them are read;
    // inside those, the by_trace projection finds the spans by primary key. One scalar subquery for
    // both bounds: measured at 10 M spans, two separate ones cost ~30 ms more per fetch.
    const extra = [
      window?.startUnixNano !== undefined ? `ts >= fromUnixTimestamp64Nano(${sqlInt(window.startUnixNano)})` : '',
      window?.endUnixNano !== undefined ? `ts <= fromUnixTimestamp64Nano(${sqlInt(window.endUnixNano)})` : '',
    ].filter(Boolean);
    const rows = await this.store.query<SpanRow>(
      `WITH (SELECT (min(start), max(end)) FROM trace_index WHERE trace_id IN (${ids})) AS bounds
       SELECT ${SPAN_COLUMNS} FROM spans
       WHERE trace_id IN (${ids}) AND ts >= bounds.1 AND ts <= bounds.2 ${extra.map((c) => `AND ${c}`).join(' ')}
       ORDER BY ts, span_id`,
    );
    const resources = new Map<string, Attribute[]>();
    for (const row of rows) {
      const span = toReadSpan(row.span, resources);
      let list = byTrace.get(span.traceId);
      if (!list) byTrace.set(span.traceId, (list = []));
      list.push(span);
    }
    return byTrace;
  }

  /** Trace ids matching the query, newest first (by their latest matching span), ties by id. */
  async searchTraceIds(q: TraceQuery): Promise<string[]> {
    const where = [
      `ts >= fromUnixTimestamp64Nano(${sqlInt(q.startUnixNano)})`,
      `ts <= fromUnixTimestamp64Nano(${sqlInt(q.endUnixNano)})`,
    ];
    if (q.service) where.push(`service = ${sqlString(q.service)}`);
    if (q.operation) where.push(`name = ${sqlString(q.operation)}`);
    if (q.minDurationNanos !== undefined) where.push(`duration_ns >= ${sqlInt(q.minDurationNanos)}`);
    if (q.maxDurationNanos !== undefined) where.push(`duration_ns <= ${sqlInt(q.maxDurationNanos)}`);
    for (const [key, value] of Object.entries(q.tags ?? {})) where.push(tagCondition(key, value));
    for (const term of q.annotationTerms ?? []) where.push(annotationCondition(term.key, term.value));
    const rows = await this.store.query<{ id: string }>(
      `SELECT lower(hex(trace_id)) AS id, max(ts) AS latest FROM spans
       WHERE ${where.join(' AND ')}
       GROUP BY trace_id ORDER BY latest DESC, id LIMIT ${sqlInt(q.limit)}`,
    );
    return rows.map((r) => r.id);
  }

  /**
   * The peer services (the `peer.service` attribute: a Zipkin span's remoteEndpoint.serviceName) that
   * `service`'s spans since `sinceUnixNano` name, sorted.
   */
  async remoteServices(service: string, sinceUnixNano: bigint): Promise<string[]> {
    const rows = await this.store.query<{ peer: string }>(
      `SELECT DISTINCT attributes['peer.service'] AS peer FROM spans
       WHERE service = ${sqlString(service)} AND ts >= fromUnixTimestamp64Nano(${sqlInt(sinceUnixNano)}) AND peer != ''
       ORDER BY peer`,
    );
    return rows.map((r) => r.peer);
  }
}

/** One Zipkin annotationQuery term (see TraceQuery.annotationTerms). */
function annotationCondition(key: string, value: string | undefined): string {
  const k = sqlString(key);
  if (value === undefined) {
    const failed = key === 'error' ? 'status_code = 2 OR ' : '';
    return `(${failed}mapContains(attributes, ${k}) OR arrayExists(e -> JSONExtractString(e, 'n') = ${k}, JSONExtractArrayRaw(events)))`;
  }
  const v = sqlString(value);
  const failed = key === 'error' ? `(status_code = 2 AND status_message = ${v}) OR ` : '';
  return `(${failed}attributes[${k}] = ${v} OR resource_attributes[${k}] = ${v})`;
}

/** A tag filter: a few names mean span fields (as Jaeger's tag search treats them), the rest attributes. */
function tagCondition(key: string, value: string): string {
  const v = sqlString(value);
  if (key === 'error') {
    return value === 'true' ? `(status_code = 2 OR attributes['error'] = 'true')` : `(status_code != 2 AND attributes['error'] != 'true')`;
  }
  if (key === 'span.kind' && value in SPAN_KIND_BY_NAME) return `kind = ${SPAN_KIND_BY_NAME[value]}`;
  if (key === 'otel.status_code') {
    const code = { UNSET: 0, OK: 1, ERROR: 2 }[value.toUpperCase()];
    if (code !== undefined) return `status_code = ${code}`;
  }
  if (key === 'service.namespace' || key === 'k8s.namespace.name') return `(namespace = ${v} OR resource_attributes[${sqlString(key)}] = ${v})`;
  const k = sqlString(key);
  return `(attributes[${k}] = ${v} OR resource_attributes[${k}] = ${v})`;
}

function attributesFrom(values: Record<string, string>, types: Record<string, string>): Attribute[] {
  return Object.entries(values).map(([key, value]) => ({ key, value, type: (types[key] ?? 'string') as AttributeType }));
}

function toReadSpan(row: SpanRow['span'], resources: Map<string, Attribute[]>): ReadSpan {
  const [
    traceId, spanId, parentSpanId, traceState, service, namespace, name, kind, startNs, durationText, statusCode, statusMessage, flags,
    attributes, attributeTypes, resourceKey, resourceAttributes, resourceTypes, scopeName, scopeVersion, eventsText, linksText, droppedCounts,
  ] = row;
  const events: StoredEvent[] = eventsText ? (JSON.parse(eventsText) as StoredEvent[]) : [];
  const links: StoredLink[] = linksText ? (JSON.parse(linksText) as StoredLink[]) : [];
  // The spans of one resource share its attribute list: made once, and APIs that group spans by resource
  // (Jaeger's processes, OTLP's resourceSpans) can tell them by identity.
  let resource = resources.get(resourceKey);
  if (resource === undefined) resources.set(resourceKey, (resource = attributesFrom(resourceAttributes, resourceTypes)));
  return {
    traceId,
    spanId,
    parentSpanId,
    traceState,
    service,
    namespace,
    name,
    kind: Number(kind) as SpanKind,
    startTimeUnixNano: BigInt(startNs),
    durationNanos: BigInt(durationText),
    statusCode: Number(statusCode) as StatusCode,
    statusMessage,
    flags: Number(flags),
    attributes: attributesFrom(attributes, attributeTypes),
    resourceAttributes: resource,
    scopeName,
    scopeVersion,
    events: events.map((e) => ({ timeUnixNano: BigInt(e.t), name: e.n, attributes: e.a, droppedAttributesCount: e.d ?? 0 })),
    links: links.map((l) => ({ traceId: l.tr, spanId: l.sp, traceState: l.ts ?? '', attributes: l.a, droppedAttributesCount: l.d ?? 0 })),
    droppedAttributesCount: droppedCounts[0] ?? 0,
    droppedEventsCount: droppedCounts[1] ?? 0,
    droppedLinksCount: droppedCounts[2] ?? 0,
  };
}
