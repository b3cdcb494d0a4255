// Reads an OTLP/JSON ExportTraceServiceRequest into SpanRecords. OTLP/JSON differs from plain
// proto3 JSON in ways the spec fixes: ids are hex (not base64), enums are integers (names accepted
// too), 64-bit integers may be strings or numbers, field names are lowerCamelCase. Values of the
// wrong JSON type refuse the request: what comes out must have the model's types, or one sender's
// bad row would fail a whole batch of other senders' spans in storage.
import type { Attribute, InstrumentationScope, SpanEvent, SpanLink } from '../model.ts';
import { parseJsonRequest } from './signals.ts';
import { BadRequestError, type ConvertedTraces, TraceBuilder, type TraceLimits, spanKind, statusCode } from './traces.ts';

type U64 = string | number | null | undefined;
type Enum = number | string | null | undefined;

interface JsonAnyValue {
  stringValue?: string | null;
  boolValue?: boolean | null;
  intValue?: U64;
  doubleValue?: number | string | null;
  arrayValue?: { values?: JsonAnyValue[] | null } | null;
  kvlistValue?: { values?: JsonKeyValue[] | null } | null;
  bytesValue?: string | null;
}
interface JsonKeyValue {
  key?: string | null;
  value?: JsonAnyValue | null;
}
interface JsonSpan {
  traceId?: string | null;
  spanId?: string | null;
  traceState?: string | null;
  parentSpanId?: string | null;
  name?: string | null;
  kind?: Enum;
  startTimeUnixNano?: U64;
  endTimeUnixNano?: U64;
  attributes?: JsonKeyValue[] | null;
  droppedAttributesCount?: number | null;
  events?: Array<{ timeUnixNano?: U64; name?: string | null; attributes?: JsonKeyValue[] | null; droppedAttributesCount?: number | null }> | null;
  droppedEventsCount?: number | null;
  links?: Array<{ traceId?: string | null; spanId?: string | null; traceState?: string | null; attributes?: JsonKeyValue[] | null; droppedAttributesCount?: number | null }> | null;
  droppedLinksCount?: number | null;
  status?: { code?: Enum; message?: string | null } | null;
  flags?: number | null;
}
interface JsonResourceSpans {
  resource?: { attributes?: JsonKeyValue[] | null } | null;
  scopeSpans?: Array<{ scope?: { name?: string | null; version?: string | null } | null; spans?: JsonSpan[] | null }> | null;
}
interface JsonTraceRequest {
  resourceSpans?: JsonResourceSpans[] | null;
}

/** Parses and converts an OTLP/JSON request. Throws BadRequestError when it must be refused whole. */
export function convertTraceJson(text: string, limits: TraceLimits): ConvertedTraces {
  const request = parseJsonRequest(text, 'ExportTraceServiceRequest') as JsonTraceRequest;
  if (request.resourceSpans !== undefined && request.resourceSpans !== null && !Array.isArray(request.resourceSpans)) {
    throw new BadRequestError('invalid OTLP/JSON: resourceSpans must be an array', 'decode');
  }
  const builder = new TraceBuilder(limits);
  try {
    for (const rs of request.resourceSpans ?? []) resourceSpans(rs, builder);
  } catch (error) {
    if (error instanceof BadRequestError) throw error;
    throw new BadRequestError(`malformed OTLP/JSON request: ${(error as Error).message}`, 'invalid');
  }
  return builder.result;
}

function resourceSpans(rs: JsonResourceSpans, builder: TraceBuilder): void {
  const resourceAttributes: Attribute[] = [];
  // Resource attributes are not subject to the per-span attribute limit.
  for (const kv of list(rs.resource?.attributes, 'resource.attributes')) {
    const key = text(kv.key, 'attribute key');
    if (!key) continue;
    const { type, value } = typed(kv.value, builder);
    resourceAttributes.push({ key, type, value: builder.value(type, value) });
  }
  const resource = builder.resource(resourceAttributes);
  for (const ss of list(rs.scopeSpans, 'scopeSpans')) {
    const scope: InstrumentationScope = { name: text(ss.scope?.name, 'scope.name'), version: text(ss.scope?.version, 'scope.version') };
    for (const w of list(ss.spans, 'spans')) {
      builder.countSpan();
      const attributes: Attribute[] = [];
      const dropped = addAll(builder, attributes, w.attributes);
      builder.addSpan(
        {
          traceId: id(w.traceId),
          spanId: id(w.spanId),
          parentSpanId: id(w.parentSpanId),
          traceState: text(w.traceState, 'traceState'),
          name: text(w.name, 'name'),
          kind: spanKind(enumValue(w.kind, KIND_NAMES)),
          startTimeUnixNano: u64(w.startTimeUnixNano),
          endTimeUnixNano: u64(w.endTimeUnixNano),
          attributes,
          droppedAttributesCount: uint32(w.droppedAttributesCount, 'droppedAttributesCount') + dropped,
          events: list(w.events, 'events').map((e): SpanEvent => {
            const attributes: Attribute[] = [];
            const d = addAll(builder, attributes, e.attributes);
            return {
              timeUnixNano: u64(e.timeUnixNano),
              name: builder.text(text(e.name, 'event name')),
              attributes,
              droppedAttributesCount: uint32(e.droppedAttributesCount, 'droppedAttributesCount') + d,
            };
          }),
          droppedEventsCount: uint32(w.droppedEventsCount, 'droppedEventsCount'),
          links: list(w.links, 'links').flatMap((l): SpanLink[] => {
            // Attributes first, so that the limits count them as the protobuf reader does.
            const attributes: Attribute[] = [];
            const d = addAll(builder, attributes, l.attributes);
            const traceId = id(l.traceId);
            const spanId = id(l.spanId);
            if (!LINK_TRACE_ID.test(traceId) || !LINK_SPAN_ID.test(spanId)) return [];
            const droppedAttributesCount = uint32(l.droppedAttributesCount, 'droppedAttributesCount') + d;
            return [{ traceId, spanId, traceState: text(l.traceState, 'link traceState'), attributes, droppedAttributesCount }];
          }),
          droppedLinksCount: uint32(w.droppedLinksCount, 'droppedLinksCount'),
          statusCode: statusCode(enumValue(w.status?.code, STATUS_NAMES)),
          statusMessage: text(w.status?.message, 'status.message'),
          flags: uint32(w.flags, 'flags'),
        },
        resource,
        scope,
      );
    }
  }
}

const LINK_TRACE_ID = /^[0-9a-f]{32}$/;
const LINK_SPAN_ID = /^[0-9a-f]{16}$/;

/** Adds attributes under the per-span limit; returns how many were dropped. */
function addAll(builder: TraceBuilder, attributes: Attribute[], kvs: JsonKeyValue[] | null | undefined): number {
  let dropped = 0;
  for (const kv of list(kvs, 'attributes')) {
    const key = text(kv.key, 'attribute key');
    if (!key) continue;
    const { type, value } = typed(kv.value, builder);
    if (!builder.addAttribute(attributes, key, type, value)) dropped++;
  }
  return dropped;
}

function invalid(what: string): never {
  throw new BadRequestError(`invalid OTLP/JSON: ${what}`, 'invalid');
}

/** A repeated field: absent or null is empty; anything but an array refuses the request. */
function list<T>(value: T[] | null | undefined, field: string): T[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) invalid(`${field} must be an array`);
  return value;
}

function text(value: unknown, field: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') invalid(`${field} must be a string`);
  return value;
}

/** uint32 and fixed32 fields (counts, flags): a number or, as proto3 JSON allows, a decimal string. */
function uint32(value: unknown, field: string): number {
  if (value === undefined || value === null) return 0;
  const n = typeof value === 'string' && /^[0-9]{1,10}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) invalid(`${field} must be a uint32`);
  return n;
}

/** OTLP/JSON ids are hex; anything else becomes '' and fails validation in the builder. */
function id(value: string | null | undefined): string {
  return typeof value === 'string' ? value.toLowerCase() : '';
}

const U64_MAX = 2n ** 64n - 1n;

/** A fixed64 time; 0 (absent) when it is not one. */
function u64(value: U64): bigint {
  if (value === null || value === undefined) return 0n;
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 && value < 2 ** 64 ? BigInt(Math.trunc(value)) : 0n;
  if (typeof value !== 'string' || !/^[0-9]+$/.test(value)) return 0n;
  const n = BigInt(value);
  return n <= U64_MAX ? n : 0n;
}

const KIND_NAMES: Record<string, number> = {
  SPAN_KIND_UNSPECIFIED: 0, SPAN_KIND_INTERNAL: 1, SPAN_KIND_SERVER: 2, SPAN_KIND_CLIENT: 3, SPAN_KIND_PRODUCER: 4, SPAN_KIND_CONSUMER: 5,
};
const STATUS_NAMES: Record<string, number> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };

function enumValue(value: Enum, names: Record<string, number>): number {
  if (typeof value === 'number') return Number.isInteger(value) ? value : 0;
  return typeof value === 'string' && Object.hasOwn(names, value) ? names[value]! : 0;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * An int_value as a bigint, or undefined when it is not an int64. A JSON number is taken exactly as
 * the double it is: String() would print 2^62 as 4611686018427388000.
 */
function int64(value: U64): bigint | undefined {
  let n: bigint;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return undefined;
    n = BigInt(value);
  } else if (typeof value === 'string' && /^-?[0-9]+$/.test(value)) n = BigInt(value);
  else return undefined;
  return n >= INT64_MIN && n <= INT64_MAX ? n : undefined;
}

function bool(value: unknown): boolean {
  if (typeof value !== 'boolean') invalid('boolValue must be true or false');
  return value;
}

/** The typed text of an AnyValue; strings inside arrays and kvlists are cut here (see TraceBuilder.value). */
function typed(v: JsonAnyValue | null | undefined, builder: TraceBuilder): Pick<Attribute, 'type' | 'value'> {
  if (!v) return { type: 'string', value: '' };
  if (v.stringValue !== undefined && v.stringValue !== null) return { type: 'string', value: String(v.stringValue) };
  if (v.boolValue !== undefined && v.boolValue !== null) return { type: 'bool', value: bool(v.boolValue) ? 'true' : 'false' };
  if (v.intValue !== undefined && v.intValue !== null) {
    const n = int64(v.intValue);
    if (n !== undefined) return { type: 'int', value: n.toString() };
    // An integral number past int64: the SDK's JSON serializer writes these where its protobuf one writes a double.
    if (typeof v.intValue === 'number') return { type: 'double', value: String(v.intValue) };
    return { type: 'string', value: String(v.intValue) };
  }
  if (v.doubleValue !== undefined && v.doubleValue !== null) return { type: 'double', value: String(Number(v.doubleValue)) };
  if (v.bytesValue !== undefined && v.bytesValue !== null) return { type: 'bytes', value: String(v.bytesValue) };
  if (v.arrayValue) return { type: 'array', value: JSON.stringify(plainArray(v.arrayValue.values, builder)) };
  if (v.kvlistValue) return { type: 'kvlist', value: JSON.stringify(plainKvlist(v.kvlistValue.values, builder)) };
  return { type: 'string', value: '' };
}

type Plain = string | number | boolean | null | Plain[] | { [key: string]: Plain };

function plain(v: JsonAnyValue | null | undefined, builder: TraceBuilder): Plain {
  if (!v) return null;
  if (v.stringValue !== undefined && v.stringValue !== null) return builder.text(String(v.stringValue));
  if (v.boolValue !== undefined && v.boolValue !== null) return bool(v.boolValue);
  if (v.intValue !== undefined && v.intValue !== null) {
    const n = int64(v.intValue);
    if (n === undefined) return typeof v.intValue === 'number' ? v.intValue : String(v.intValue);
    return n >= MIN_SAFE && n <= MAX_SAFE ? Number(n) : n.toString();
  }
  if (v.doubleValue !== undefined && v.doubleValue !== null) return Number(v.doubleValue);
  if (v.bytesValue !== undefined && v.bytesValue !== null) return String(v.bytesValue);
  if (v.arrayValue) return plainArray(v.arrayValue.values, builder);
  if (v.kvlistValue) return plainKvlist(v.kvlistValue.values, builder);
  return null;
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function plainArray(values: JsonAnyValue[] | null | undefined, builder: TraceBuilder): Plain[] {
  return list(values, 'arrayValue.values').map((v) => plain(v, builder));
}

function plainKvlist(values: JsonKeyValue[] | null | undefined, builder: TraceBuilder): { [key: string]: Plain } {
  // No prototype, so that a key named __proto__ stays a key.
  const out: { [key: string]: Plain } = Object.create(null);
  for (const kv of list(values, 'kvlistValue.values')) {
    const key = text(kv.key, 'attribute key');
    if (key) out[key] = plain(kv.value, builder);
  }
  return out;
}
