// Encodes spans as JSONCompactEachRow lines for `spans_ingest`, in SPAN_INGEST_COLUMNS order.
// This is the collector's hot path: one string per span, no intermediate row objects. A resource's
// attributes are shared by all its spans, so they are encoded once and cached on the resource.
import type { Attribute, Resource, SpanEvent, SpanLink, SpanRecord } from './model.ts';

// Most strings need no escaping; testing for that and quoting directly is ~3x faster than
// JSON.stringify per string on this path.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u2028\u2029\ud800-\udfff]/;
const str = (s: string): string => (NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"');

/** `{"k":"v",...}` for the values and `{"k":"int",...}` for the types that are not plain strings. */
function encodeAttributes(attributes: readonly Attribute[]): string {
  if (attributes.length === 0) return '{},{}';
  let values = '{';
  let types = '{';
  for (let i = 0; i < attributes.length; i++) {
    const a = attributes[i]!;
    const key = str(a.key);
    values += (i === 0 ? '' : ',') + key + ':' + str(a.value);
    if (a.type !== 'string') types += (types.length === 1 ? '' : ',') + key + ':"' + a.type + '"';
  }
  return values + '},' + types + '}';
}

const resourceCache = new WeakMap<Resource, string>();

function encodeResource(resource: Resource): string {
  let encoded = resourceCache.get(resource);
  if (encoded === undefined) {
    encoded = encodeAttributes(resource.attributes);
    resourceCache.set(resource, encoded);
  }
  return encoded;
}

/** Events and links are read whole with their span, never searched: stored as compact JSON text. */
export interface StoredEvent {
  t: string;
  n: string;
  a: Attribute[];
  d?: number;
}
export interface StoredLink {
  tr: string;
  sp: string;
  ts?: string;
  a: Attribute[];
  d?: number;
}

function encodeEvents(events: readonly SpanEvent[]): string {
  if (events.length === 0) return '""';
  const stored: StoredEvent[] = events.map((e) => ({
    t: e.timeUnixNano.toString(),
    n: e.name,
    a: e.attributes,
    ...(e.droppedAttributesCount ? { d: e.droppedAttributesCount } : {}),
  }));
  return str(JSON.stringify(stored));
}

function encodeLinks(links: readonly SpanLink[]): string {
  if (links.length === 0) return '""';
  const stored: StoredLink[] = links.map((l) => ({
    tr: l.traceId,
    sp: l.spanId,
    ...(l.traceState ? { ts: l.traceState } : {}),
    a: l.attributes,
    ...(l.droppedAttributesCount ? { d: l.droppedAttributesCount } : {}),
  }));
  return str(JSON.stringify(stored));
}

/** One `spans_ingest` row, newline-terminated. */
export function encodeSpanRow(span: SpanRecord): string {
  const duration = span.endTimeUnixNano > span.startTimeUnixNano ? span.endTimeUnixNano - span.startTimeUnixNano : 0n;
  return (
    '["' +
    span.traceId +
    '","' +
    span.spanId +
    '","' +
    span.parentSpanId +
    '",' +
    str(span.traceState) +
    ',' +
    str(span.resource.serviceName) +
    ',' +
    str(span.resource.namespace) +
    ',' +
    str(span.name) +
    ',' +
    span.kind +
    ',' +
    span.startTimeUnixNano.toString() +
    ',' +
    duration.toString() +
    ',' +
    span.statusCode +
    ',' +
    str(span.statusMessage) +
    ',' +
    span.flags +
    ',' +
    encodeAttributes(span.attributes) +
    ',' +
    encodeResource(span.resource) +
    ',' +
    str(span.scope.name) +
    ',' +
    str(span.scope.version) +
    ',' +
    encodeEvents(span.events) +
    ',' +
    encodeLinks(span.links) +
    ',[' +
    span.droppedAttributesCount +
    ',' +
    span.droppedEventsCount +
    ',' +
    span.droppedLinksCount +
    ']]\n'
  );
}
