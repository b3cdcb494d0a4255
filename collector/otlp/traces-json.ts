// Reads an OTLP/JSON ExportTraceServiceRequest into SpanRecords. OTLP/JSON differs from plain
// proto3 JSON in ways the spec fixes: ids are hex (not base64), enums are integers (names accepted
// too), 64-bit integers may be strings or numbers, field names are lowerCamelCase.
import type { Attribute, InstrumentationScope, SpanEvent, SpanLink } from '../model.ts';
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
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new BadRequestError(`invalid OTLP/JSON: ${(error as Error).message}`, 'decode');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BadRequestError('invalid OTLP/JSON: the body must be an ExportTraceServiceRequest object', 'decode');
  }
  const request = parsed as JsonTraceRequest;
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
  for (const kv of rs.resource?.attributes ?? []) {
    if (!kv.key) continue;
    const { type, value } = typed(kv.value);
    resourceAttributes.push({ key: kv.key, type, value: builder.text(value) });
  }
  const resource = builder.resource(resourceAttributes);
  for (const ss of rs.scopeSpans ?? []) {
    const scope: InstrumentationScope = { name: ss.scope?.name ?? '', version: ss.scope?.version ?? '' };
    for (const w of ss.spans ?? []) {
      builder.countSpan();
      const attributes: Attribute[] = [];
      const dropped = addAll(builder, attributes, w.attributes);
      builder.addSpan(
        {
          traceId: id(w.traceId),
          spanId: id(w.spanId),
          parentSpanId: id(w.parentSpanId),
          traceState: w.traceState ?? '',
          name: w.name ?? '',
          kind: spanKind(enumValue(w.kind, KIND_NAMES)),
          startTimeUnixNano: u64(w.startTimeUnixNano),
          endTimeUnixNano: u64(w.endTimeUnixNano),
          attributes,
          droppedAttributesCount: (w.droppedAttributesCount ?? 0) + dropped,
          events: (w.events ?? []).map((e): SpanEvent => {
            const list: Attribute[] = [];
            const d = addAll(builder, list, e.attributes);
            return { timeUnixNano: u64(e.timeUnixNano), name: builder.text(e.name ?? ''), attributes: list, droppedAttributesCount: (e.droppedAttributesCount ?? 0) + d };
          }),
          droppedEventsCount: w.droppedEventsCount ?? 0,
          links: (w.links ?? []).flatMap((l): SpanLink[] => {
            const traceId = id(l.traceId);
            const spanId = id(l.spanId);
            if (traceId.length !== 32 || spanId.length !== 16) return [];
            const list: Attribute[] = [];
            const d = addAll(builder, list, l.attributes);
            return [{ traceId, spanId, traceState: l.traceState ?? '', attributes: list, droppedAttributesCount: (l.droppedAttributesCount ?? 0) + d }];
          }),
          droppedLinksCount: w.droppedLinksCount ?? 0,
          statusCode: statusCode(enumValue(w.status?.code, STATUS_NAMES)),
          statusMessage: w.status?.message ?? '',
          flags: w.flags ?? 0,
        },
        resource,
        scope,
      );
    }
  }
}

/** Adds attributes under the per-span limit; returns how many were dropped. */
function addAll(builder: TraceBuilder, list: Attribute[], kvs: JsonKeyValue[] | null | undefined): number {
  let dropped = 0;
  for (const kv of kvs ?? []) {
    if (!kv.key) continue;
    const { type, value } = typed(kv.value);
    if (!builder.addAttribute(list, kv.key, type, value)) dropped++;
  }
  return dropped;
}

/** OTLP/JSON ids are hex; anything else becomes '' and fails validation in the builder. */
function id(value: string | null | undefined): string {
  return typeof value === 'string' ? value.toLowerCase() : '';
}

function u64(value: U64): bigint {
  if (value === null || value === undefined) return 0n;
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? BigInt(Math.trunc(value)) : 0n;
  return /^[0-9]+$/.test(value) ? BigInt(value) : 0n;
}

const KIND_NAMES: Record<string, number> = {
  SPAN_KIND_UNSPECIFIED: 0, SPAN_KIND_INTERNAL: 1, SPAN_KIND_SERVER: 2, SPAN_KIND_CLIENT: 3, SPAN_KIND_PRODUCER: 4, SPAN_KIND_CONSUMER: 5,
};
const STATUS_NAMES: Record<string, number> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };

function enumValue(value: Enum, names: Record<string, number>): number {
  if (typeof value === 'number') return value;
  return names[value ?? ''] ?? 0;
}

function typed(v: JsonAnyValue | null | undefined): Pick<Attribute, 'type' | 'value'> {
  if (!v) return { type: 'string', value: '' };
  if (v.stringValue !== undefined && v.stringValue !== null) return { type: 'string', value: String(v.stringValue) };
  if (v.boolValue !== undefined && v.boolValue !== null) return { type: 'bool', value: v.boolValue ? 'true' : 'false' };
  if (v.intValue !== undefined && v.intValue !== null) {
    const text = String(v.intValue);
    return /^-?[0-9]+$/.test(text) ? { type: 'int', value: text } : { type: 'string', value: text };
  }
  if (v.doubleValue !== undefined && v.doubleValue !== null) return { type: 'double', value: String(Number(v.doubleValue)) };
  if (v.bytesValue !== undefined && v.bytesValue !== null) return { type: 'bytes', value: String(v.bytesValue) };
  if (v.arrayValue) return { type: 'array', value: JSON.stringify((v.arrayValue.values ?? []).map(plain)) };
  if (v.kvlistValue) return { type: 'kvlist', value: JSON.stringify(plainKvlist(v.kvlistValue.values)) };
  return { type: 'string', value: '' };
}

type Plain = string | number | boolean | null | Plain[] | { [key: string]: Plain };

function plain(v: JsonAnyValue | null | undefined): Plain {
  if (!v) return null;
  if (v.stringValue !== undefined && v.stringValue !== null) return v.stringValue;
  if (v.boolValue !== undefined && v.boolValue !== null) return v.boolValue;
  if (v.intValue !== undefined && v.intValue !== null) {
    const n = Number(v.intValue);
    return Number.isSafeInteger(n) ? n : String(v.intValue);
  }
  if (v.doubleValue !== undefined && v.doubleValue !== null) return Number(v.doubleValue);
  if (v.bytesValue !== undefined && v.bytesValue !== null) return v.bytesValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(plain);
  if (v.kvlistValue) return plainKvlist(v.kvlistValue.values);
  return null;
}

function plainKvlist(values: JsonKeyValue[] | null | undefined): { [key: string]: Plain } {
  const out: { [key: string]: Plain } = {};
  for (const kv of values ?? []) if (kv.key) out[kv.key] = plain(kv.value);
  return out;
}
