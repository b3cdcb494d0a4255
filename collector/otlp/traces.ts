// OTLP trace requests → SpanRecords. Two readers share this file's TraceBuilder: the protobuf wire
// reader (traces-proto.ts) and the OTLP/JSON reader (traces-json.ts). The builder owns everything
// that must not differ between them: id and time validation, limits, partial-success bookkeeping,
// and the resource's service name and namespace.
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { Attribute, AttributeType, InstrumentationScope, Resource, SpanKind, SpanRecord, StatusCode } from '../model.ts';

export const OTLP_PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));

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

/** A span as a reader found it, before validation: ids are hex ('' when absent), times bigint ns. */
export type SpanFields = Omit<SpanRecord, 'resource' | 'scope'>;

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
const HEX_ID = /^[0-9a-f]+$/;
const MAX_TIME_NS = 2n ** 63n;
const MAX_UINT32 = 0xffffffff;

export class TraceBuilder {
  readonly result: ConvertedTraces = { spans: [], rejected: 0, errorMessage: '', truncatedAttributes: 0, droppedAttributes: 0 };
  private seen = 0;

  constructor(readonly limits: TraceLimits) {}

  /** Call once per span found, before building it, so an oversized request stops early. */
  countSpan(): void {
    if (++this.seen > this.limits.spansPerRequest) {
      throw new BadRequestError(`request has more than ${this.limits.spansPerRequest} spans (limits.spans_per_request)`, 'too_large');
    }
  }

  /** A value cut to limits.attribute_value_length. */
  text(value: string): string {
    if (value.length <= this.limits.attributeValueLength) return value;
    this.result.truncatedAttributes++;
    let end = this.limits.attributeValueLength;
    // Never keep half of a surrogate pair: alone it is not text (nor valid UTF-8 in storage).
    const last = value.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff) end--;
    return value.slice(0, end);
  }

  /**
   * An attribute value as kept: only strings are cut. A cut number would be another number and cut
   * JSON would not be JSON; the strings inside arrays and kvlists are cut by the readers, via text().
   */
  value(type: AttributeType, value: string): string {
    return type === 'string' ? this.text(value) : value;
  }

  /** Appends an attribute unless the list is full; returns false when it was dropped. */
  addAttribute(list: Attribute[], key: string, type: AttributeType, value: string): boolean {
    if (list.length >= this.limits.attributesPerSpan) {
      this.result.droppedAttributes++;
      return false;
    }
    list.push({ key, type, value: this.value(type, value) });
    return true;
  }

  resource(attributes: Attribute[]): Resource {
    return {
      serviceName: findString(attributes, 'service.name') || 'unknown_service',
      namespace: findString(attributes, 'k8s.namespace.name') || findString(attributes, 'service.namespace'),
      attributes,
    };
  }

  /** Counts one span as refused; the first one's reason (a single line) becomes errorMessage. */
  reject(reason: string): void {
    if (this.result.rejected === 0) this.result.errorMessage = reason;
    this.result.rejected++;
  }

  /** Validates a span and keeps it, or counts it as rejected with the first reason seen. */
  addSpan(f: SpanFields, resource: Resource, scope: InstrumentationScope): void {
    const problem =
      f.traceId.length !== 32 || f.traceId === ZERO_TRACE || !HEX_ID.test(f.traceId)
        ? 'an invalid trace_id (must be 16 bytes, not all zero)'
        : f.spanId.length !== 16 || f.spanId === ZERO_SPAN || !HEX_ID.test(f.spanId)
          ? 'an invalid span_id (must be 8 bytes, not all zero)'
          : f.parentSpanId !== '' && (f.parentSpanId.length !== 16 || !HEX_ID.test(f.parentSpanId))
            ? 'an invalid parent_span_id (must be 8 bytes or empty)'
            : f.startTimeUnixNano <= 0n
              ? 'no start_time_unix_nano'
              : f.startTimeUnixNano >= MAX_TIME_NS
                ? 'a start_time_unix_nano past the year 2262 (storage keeps signed 64-bit nanoseconds)'
              : undefined;
    if (problem) {
      this.reject(`span "${f.name.slice(0, 100)}" has ${problem}`);
      return;
    }
    // The reader's object becomes the record (no copy on this per-span path).
    const span: SpanRecord = Object.assign(f, { resource, scope });
    if (span.parentSpanId === ZERO_SPAN) span.parentSpanId = '';
    if (span.endTimeUnixNano < span.startTimeUnixNano || span.endTimeUnixNano >= MAX_TIME_NS) span.endTimeUnixNano = span.startTimeUnixNano;
    // Counts are stored as UInt32: a sender's count plus ours must not overflow it (a row that does
    // not parse would fail the whole batch, other senders' spans included).
    span.droppedAttributesCount = Math.min(span.droppedAttributesCount, MAX_UINT32);
    span.droppedEventsCount = Math.min(span.droppedEventsCount, MAX_UINT32);
    span.droppedLinksCount = Math.min(span.droppedLinksCount, MAX_UINT32);
    span.name = this.text(span.name);
    span.statusMessage = this.text(span.statusMessage);
    this.result.spans.push(span);
  }
}

function findString(attributes: Attribute[], key: string): string {
  for (const a of attributes) if (a.key === key) return a.value;
  return '';
}

/** Unknown enum values become UNSPECIFIED / UNSET, as proto3 readers treat them. */
export function spanKind(value: number): SpanKind {
  return value >= 0 && value <= 5 ? (value as SpanKind) : 0;
}

export function statusCode(value: number): StatusCode {
  return value >= 0 && value <= 2 ? (value as StatusCode) : 0;
}

// ---- responses ----

const responseRoot = new protobuf.Root();
responseRoot.resolvePath = (_origin, target) => (target.startsWith(OTLP_PROTO_DIR) ? target : OTLP_PROTO_DIR + target);
responseRoot.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
const ExportTraceServiceResponse = responseRoot.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse');

export function encodeTraceResponseProto(rejected: number, errorMessage: string): Uint8Array {
  const body = rejected > 0 ? { partialSuccess: { rejectedSpans: rejected, errorMessage } } : {};
  return ExportTraceServiceResponse.encode(ExportTraceServiceResponse.create(body)).finish();
}

export function traceResponseJson(rejected: number, errorMessage: string): object {
  return rejected > 0 ? { partialSuccess: { rejectedSpans: String(rejected), errorMessage } } : {};
}
