// OTLP trace requests (protobuf or OTLP/JSON) → SpanRecords, with validation and limits applied.
// Both encodings are walked by one converter: protobufjs' decoded messages and OTLP/JSON objects
// have the same field names (camelCase) and differ only in how ids, 64-bit ints and enums look,
// which the small normalisers below absorb. No intermediate object tree per span.
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { Attribute, InstrumentationScope, Resource, SpanEvent, SpanKind, SpanLink, SpanRecord, StatusCode } from '../model.ts';

export const OTLP_PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => (target.startsWith(OTLP_PROTO_DIR) ? target : OTLP_PROTO_DIR + target);
root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
const ExportTraceServiceRequest = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
const ExportTraceServiceResponse = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse');

/** Limits applied while converting; see `limits:` in the configuration. */
export interface TraceLimits {
  spansPerRequest: number;
  attributesPerSpan: number;
  attributeValueLength: number;
}

export interface ConvertedTraces {
  spans: SpanRecord[];
  /** Spans refused as invalid (reported back as OTLP partial success). */
  rejected: number;
  /** One line naming the first problem, for partial success; '' when nothing was rejected. */
  errorMessage: string;
  truncatedAttributes: number;
  droppedAttributes: number;
}

/** The request as a whole cannot be taken: undecodable, or over a size limit. */
export class BadRequestError extends Error {
  constructor(
    message: string,
    readonly reason: 'decode' | 'too_large' | 'invalid',
  ) {
    super(message);
  }
}

// ---- wire shapes (the fields we read; protobufjs messages and OTLP/JSON both fit) ----

type Bytes = Uint8Array | string | null | undefined;
type U64 = { low: number; high: number } | string | number | null | undefined;
type Enum = number | string | null | undefined;

interface WireAnyValue {
  stringValue?: string | null;
  boolValue?: boolean | null;
  intValue?: U64;
  doubleValue?: number | string | null;
  arrayValue?: { values?: WireAnyValue[] | null } | null;
  kvlistValue?: { values?: WireKeyValue[] | null } | null;
  bytesValue?: Bytes;
}
interface WireKeyValue {
  key?: string | null;
  value?: WireAnyValue | null;
}
interface WireSpan {
  traceId?: Bytes;
  spanId?: Bytes;
  traceState?: string | null;
  parentSpanId?: Bytes;
  name?: string | null;
  kind?: Enum;
  startTimeUnixNano?: U64;
  endTimeUnixNano?: U64;
  attributes?: WireKeyValue[] | null;
  droppedAttributesCount?: number | null;
  events?: Array<{ timeUnixNano?: U64; name?: string | null; attributes?: WireKeyValue[] | null; droppedAttributesCount?: number | null }> | null;
  droppedEventsCount?: number | null;
  links?: Array<{ traceId?: Bytes; spanId?: Bytes; traceState?: string | null; attributes?: WireKeyValue[] | null; droppedAttributesCount?: number | null }> | null;
  droppedLinksCount?: number | null;
  status?: { code?: Enum; message?: string | null } | null;
  flags?: number | null;
}
interface WireResourceSpans {
  resource?: { attributes?: WireKeyValue[] | null } | null;
  scopeSpans?: Array<{ scope?: { name?: string | null; version?: string | null } | null; spans?: WireSpan[] | null }> | null;
}
export interface WireTraceRequest {
  resourceSpans?: WireResourceSpans[] | null;
}

// ---- entry points ----

export function decodeTraceRequestProto(body: Uint8Array): WireTraceRequest {
  try {
    return ExportTraceServiceRequest.decode(body) as unknown as WireTraceRequest;
  } catch (error) {
    throw new BadRequestError(`undecodable OTLP protobuf ExportTraceServiceRequest: ${(error as Error).message}`, 'decode');
  }
}

export function decodeTraceRequestJson(text: string): WireTraceRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new BadRequestError(`invalid OTLP/JSON: ${(error as Error).message}`, 'decode');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BadRequestError('invalid OTLP/JSON: the body must be an ExportTraceServiceRequest object', 'decode');
  }
  const request = parsed as WireTraceRequest & { resource_spans?: WireResourceSpans[] };
  // proto3 JSON allows the original field names too; the OTLP exporters send camelCase.
  if (!request.resourceSpans && request.resource_spans) throw new BadRequestError('invalid OTLP/JSON: use camelCase field names (resourceSpans)', 'decode');
  if (request.resourceSpans !== undefined && !Array.isArray(request.resourceSpans)) {
    throw new BadRequestError('invalid OTLP/JSON: resourceSpans must be an array', 'decode');
  }
  return request;
}

export function encodeTraceResponseProto(rejected: number, errorMessage: string): Uint8Array {
  const body = rejected > 0 ? { partialSuccess: { rejectedSpans: rejected, errorMessage } } : {};
  return ExportTraceServiceResponse.encode(ExportTraceServiceResponse.create(body)).finish();
}

export function traceResponseJson(rejected: number, errorMessage: string): object {
  return rejected > 0 ? { partialSuccess: { rejectedSpans: String(rejected), errorMessage } } : {};
}

export function countSpans(request: WireTraceRequest): number {
  let n = 0;
  for (const rs of request.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) n += ss.spans?.length ?? 0;
  return n;
}

/** Converts a decoded request, applying limits. Throws BadRequestError when it must be refused whole. */
export function convertTraceRequest(request: WireTraceRequest, limits: TraceLimits): ConvertedTraces {
  const total = countSpans(request);
  if (total > limits.spansPerRequest) {
    throw new BadRequestError(`request has ${total} spans; limits.spans_per_request is ${limits.spansPerRequest}`, 'too_large');
  }
  const out = new Converter(limits);
  try {
    for (const rs of request.resourceSpans ?? []) out.resourceSpans(rs);
  } catch (error) {
    if (error instanceof BadRequestError) throw error;
    throw new BadRequestError(`malformed OTLP request: ${(error as Error).message}`, 'invalid');
  }
  return out.result;
}

// ---- conversion ----

const EMPTY_SCOPE: InstrumentationScope = { name: '', version: '' };

class Converter {
  readonly result: ConvertedTraces = { spans: [], rejected: 0, errorMessage: '', truncatedAttributes: 0, droppedAttributes: 0 };
  constructor(private readonly limits: TraceLimits) {}

  resourceSpans(rs: WireResourceSpans): void {
    const resourceAttributes = this.attributes(rs.resource?.attributes, Infinity).kept;
    const resource: Resource = {
      serviceName: findString(resourceAttributes, 'service.name') || 'unknown_service',
      namespace: findString(resourceAttributes, 'k8s.namespace.name') || findString(resourceAttributes, 'service.namespace'),
      attributes: resourceAttributes,
    };
    for (const ss of rs.scopeSpans ?? []) {
      const scope = ss.scope ? { name: ss.scope.name ?? '', version: ss.scope.version ?? '' } : EMPTY_SCOPE;
      for (const span of ss.spans ?? []) this.span(span, resource, scope);
    }
  }

  private span(w: WireSpan, resource: Resource, scope: InstrumentationScope): void {
    const traceId = hexId(w.traceId, 16);
    const spanId = hexId(w.spanId, 8);
    const parent = w.parentSpanId === undefined || w.parentSpanId === null || w.parentSpanId.length === 0 ? '' : hexId(w.parentSpanId, 8);
    if (traceId === null || spanId === null || parent === null) {
      const what = traceId === null ? 'trace_id (16 bytes, not all zero)' : spanId === null ? 'span_id (8 bytes, not all zero)' : 'parent_span_id (8 bytes or empty)';
      this.reject(`span "${w.name ?? ''}" has an invalid ${what}`);
      return;
    }
    const start = u64(w.startTimeUnixNano);
    const end = u64(w.endTimeUnixNano);
    if (start === 0n) {
      this.reject(`span "${w.name ?? ''}" has no start_time_unix_nano`);
      return;
    }
    const attributes = this.attributes(w.attributes, this.limits.attributesPerSpan);
    this.result.spans.push({
      traceId,
      spanId,
      parentSpanId: parent === '0000000000000000' ? '' : parent,
      traceState: w.traceState ?? '',
      name: this.text(w.name ?? ''),
      kind: spanKind(w.kind),
      startTimeUnixNano: start,
      endTimeUnixNano: end < start ? start : end,
      attributes: attributes.kept,
      droppedAttributesCount: (w.droppedAttributesCount ?? 0) + attributes.dropped,
      events: (w.events ?? []).map((e): SpanEvent => {
        const a = this.attributes(e.attributes, this.limits.attributesPerSpan);
        return { timeUnixNano: u64(e.timeUnixNano), name: this.text(e.name ?? ''), attributes: a.kept, droppedAttributesCount: (e.droppedAttributesCount ?? 0) + a.dropped };
      }),
      droppedEventsCount: w.droppedEventsCount ?? 0,
      links: (w.links ?? []).flatMap((l): SpanLink[] => {
        const linkTrace = hexId(l.traceId, 16);
        const linkSpan = hexId(l.spanId, 8);
        if (linkTrace === null || linkSpan === null) return [];
        const a = this.attributes(l.attributes, this.limits.attributesPerSpan);
        return [{ traceId: linkTrace, spanId: linkSpan, traceState: l.traceState ?? '', attributes: a.kept, droppedAttributesCount: (l.droppedAttributesCount ?? 0) + a.dropped }];
      }),
      droppedLinksCount: w.droppedLinksCount ?? 0,
      statusCode: statusCode(w.status?.code),
      statusMessage: this.text(w.status?.message ?? ''),
      flags: w.flags ?? 0,
      resource,
      scope,
    });
  }

  private reject(message: string): void {
    if (this.result.rejected === 0) this.result.errorMessage = message;
    this.result.rejected++;
  }

  private text(value: string): string {
    if (value.length <= this.limits.attributeValueLength) return value;
    this.result.truncatedAttributes++;
    return value.slice(0, this.limits.attributeValueLength);
  }

  private attributes(list: WireKeyValue[] | null | undefined, max: number): { kept: Attribute[]; dropped: number } {
    if (!list || list.length === 0) return { kept: [], dropped: 0 };
    const kept: Attribute[] = [];
    let dropped = 0;
    for (const kv of list) {
      if (!kv.key) continue;
      if (kept.length >= max) {
        dropped++;
        continue;
      }
      const attribute = anyValue(kv.key, kv.value);
      attribute.value = this.text(attribute.value);
      kept.push(attribute);
    }
    this.result.droppedAttributes += dropped;
    return { kept, dropped };
  }
}

function findString(attributes: Attribute[], key: string): string {
  for (const a of attributes) if (a.key === key) return a.value;
  return '';
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lowercase hex of an id of exactly `size` bytes, not all zero; null when it is not one. */
export function hexId(value: Bytes, size: number): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') {
    // OTLP/JSON carries ids as hex (not base64, unlike plain proto3 JSON).
    if (value.length !== size * 2 || !/^[0-9a-fA-F]+$/.test(value) || /^0+$/.test(value)) return null;
    return value.toLowerCase();
  }
  if (value.length !== size) return null;
  let hex = '';
  let zero = true;
  for (let i = 0; i < size; i++) {
    const b = value[i]!;
    if (b !== 0) zero = false;
    hex += HEX[b];
  }
  return zero ? null : hex;
}

function u64(value: U64): bigint {
  if (value === null || value === undefined) return 0n;
  if (typeof value === 'object') return (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? BigInt(Math.trunc(value)) : 0n;
  return /^[0-9]+$/.test(value) ? BigInt(value) : 0n;
}

function i64Text(value: U64): string {
  if (value === null || value === undefined) return '0';
  if (typeof value === 'object') return BigInt.asIntN(64, (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0)).toString();
  return String(value);
}

const KIND_NAMES: Record<string, SpanKind> = {
  SPAN_KIND_UNSPECIFIED: 0, SPAN_KIND_INTERNAL: 1, SPAN_KIND_SERVER: 2, SPAN_KIND_CLIENT: 3, SPAN_KIND_PRODUCER: 4, SPAN_KIND_CONSUMER: 5,
};
const STATUS_NAMES: Record<string, StatusCode> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };

/** Unknown enum values become UNSPECIFIED / UNSET, as proto3 readers treat them. */
function spanKind(value: Enum): SpanKind {
  if (typeof value === 'number') return value >= 0 && value <= 5 ? (value as SpanKind) : 0;
  return KIND_NAMES[value ?? ''] ?? 0;
}

function statusCode(value: Enum): StatusCode {
  if (typeof value === 'number') return value >= 0 && value <= 2 ? (value as StatusCode) : 0;
  return STATUS_NAMES[value ?? ''] ?? 0;
}

/**
 * Which member of the AnyValue oneof is set. protobufjs puts proto3 defaults ('' , 0, false) on the
 * message prototype, so only an own property means the sender set it; JSON objects fit the same test.
 */
function has<K extends keyof WireAnyValue>(v: WireAnyValue, key: K): v is WireAnyValue & { [P in K]-?: NonNullable<WireAnyValue[P]> } {
  return Object.hasOwn(v, key) && v[key] !== null && v[key] !== undefined;
}

function anyValue(key: string, v: WireAnyValue | null | undefined): Attribute {
  if (!v) return { key, type: 'string', value: '' };
  if (has(v, 'stringValue')) return { key, type: 'string', value: v.stringValue };
  if (has(v, 'boolValue')) return { key, type: 'bool', value: v.boolValue ? 'true' : 'false' };
  if (has(v, 'intValue')) return { key, type: 'int', value: i64Text(v.intValue) };
  if (has(v, 'doubleValue')) return { key, type: 'double', value: String(Number(v.doubleValue)) };
  if (has(v, 'bytesValue')) {
    return { key, type: 'bytes', value: typeof v.bytesValue === 'string' ? v.bytesValue : Buffer.from(v.bytesValue).toString('base64') };
  }
  if (has(v, 'arrayValue')) return { key, type: 'array', value: JSON.stringify((v.arrayValue.values ?? []).map(plainValue)) };
  if (has(v, 'kvlistValue')) return { key, type: 'kvlist', value: JSON.stringify(plainKvlist(v.kvlistValue.values)) };
  return { key, type: 'string', value: '' };
}

type Plain = string | number | boolean | null | Plain[] | { [key: string]: Plain };

/** Nested values (inside arrays and kvlists) as plain JSON. */
function plainValue(v: WireAnyValue | null | undefined): Plain {
  if (!v) return null;
  if (has(v, 'stringValue')) return v.stringValue;
  if (has(v, 'boolValue')) return v.boolValue;
  if (has(v, 'intValue')) {
    const text = i64Text(v.intValue);
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : text;
  }
  if (has(v, 'doubleValue')) return Number(v.doubleValue);
  if (has(v, 'bytesValue')) return typeof v.bytesValue === 'string' ? v.bytesValue : Buffer.from(v.bytesValue).toString('base64');
  if (has(v, 'arrayValue')) return (v.arrayValue.values ?? []).map(plainValue);
  if (has(v, 'kvlistValue')) return plainKvlist(v.kvlistValue.values);
  return null;
}

function plainKvlist(values: WireKeyValue[] | null | undefined): { [key: string]: Plain } {
  const out: { [key: string]: Plain } = {};
  for (const kv of values ?? []) if (kv.key) out[kv.key] = plainValue(kv.value);
  return out;
}
