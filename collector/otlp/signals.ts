// What the OTLP metrics and logs readers share: loading the vendored protos, turning a protobuf or
// OTLP/JSON body into one plain shape (protobufjs' toObject with 64-bit integers as decimal strings,
// which is also what OTLP/JSON sends), attribute values as text, resource identity, and the
// partial-success replies. Only ids differ between the two encodings: base64 bytes in protobuf,
// hex in OTLP/JSON.
import protobuf from 'protobufjs';
import { BadRequestError, OTLP_PROTO_DIR } from './traces.ts';

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => (target.startsWith(OTLP_PROTO_DIR) ? target : OTLP_PROTO_DIR + target);
root.loadSync(['opentelemetry/proto/collector/metrics/v1/metrics_service.proto', 'opentelemetry/proto/collector/logs/v1/logs_service.proto']);

export const MetricsRequest = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');
export const LogsRequest = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest');
const MetricsResponse = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse');
const LogsResponse = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse');

/** How ids arrived: protobuf bytes (base64 after toObject) or OTLP/JSON hex. */
export type IdEncoding = 'base64' | 'hex';

export interface OtlpAnyValue {
  stringValue?: unknown;
  boolValue?: unknown;
  intValue?: unknown;
  doubleValue?: unknown;
  arrayValue?: { values?: unknown } | null;
  kvlistValue?: { values?: unknown } | null;
  bytesValue?: unknown;
}
export interface OtlpKeyValue {
  key?: unknown;
  value?: OtlpAnyValue | null;
}
export interface OtlpResource {
  attributes?: unknown;
}
export interface OtlpScope {
  name?: unknown;
}

/** Decodes a protobuf request into the plain shape; a body that is not one is a bad request. */
export function decodeProtoRequest(type: protobuf.Type, body: Uint8Array, what: string): Record<string, unknown> {
  try {
    const message = type.decode(body);
    return type.toObject(message, { longs: String, enums: Number, bytes: String, defaults: false, oneofs: false });
  } catch (error) {
    throw new BadRequestError(`invalid ${what} protobuf: ${(error as Error).message}`, 'decode');
  }
}

/** Parses an OTLP/JSON request body; anything but a JSON object is a bad request. */
export function parseJsonRequest(text: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new BadRequestError(`invalid OTLP/JSON: ${(error as Error).message}`, 'decode');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BadRequestError(`invalid OTLP/JSON: the body must be an ${what} object`, 'decode');
  }
  return parsed as Record<string, unknown>;
}

export function invalid(what: string): never {
  throw new BadRequestError(`invalid OTLP request: ${what}`, 'invalid');
}

/** A repeated field: absent or null is empty; anything but an array refuses the request. */
export function list<T>(value: unknown, field: string): T[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) invalid(`${field} must be an array`);
  return value as T[];
}

export function text(value: unknown, field: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') invalid(`${field} must be a string`);
  return value;
}

/** A number field (double, or a 64-bit integer sent as a decimal string); NaN when it is neither. */
export function num(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') return Number(value);
  return Number.NaN;
}

const U64_MAX = 2n ** 64n - 1n;

/** A fixed64 (times, counts) from a decimal string or a number; 0 when absent or not one. */
export function u64(value: unknown): bigint {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 && value < 2 ** 64 ? BigInt(Math.trunc(value)) : 0n;
  if (typeof value !== 'string' || !/^[0-9]+$/.test(value)) return 0n;
  const n = BigInt(value);
  return n <= U64_MAX ? n : 0n;
}

/** An id as lowercase hex ('' when absent); its length is checked by the caller. */
export function idHex(value: unknown, encoding: IdEncoding): string {
  if (typeof value !== 'string' || value === '') return '';
  return encoding === 'hex' ? value.toLowerCase() : Buffer.from(value, 'base64').toString('hex');
}

export function enumNumber(value: unknown, names: Record<string, number>): number {
  if (typeof value === 'number') return Number.isInteger(value) ? value : 0;
  return typeof value === 'string' && Object.hasOwn(names, value) ? names[value]! : 0;
}

type Plain = string | number | boolean | null | Plain[] | { [key: string]: Plain };

/** An AnyValue as a JSON-able value (ints past 2^53 stay decimal strings). */
export function plainValue(v: OtlpAnyValue | null | undefined): Plain {
  if (!v || typeof v !== 'object') return null;
  if (v.stringValue !== undefined && v.stringValue !== null) return String(v.stringValue);
  if (v.boolValue !== undefined && v.boolValue !== null) return v.boolValue === true;
  if (v.intValue !== undefined && v.intValue !== null) {
    const n = Number(v.intValue);
    return Number.isSafeInteger(n) ? n : String(v.intValue);
  }
  if (v.doubleValue !== undefined && v.doubleValue !== null) return num(v.doubleValue);
  if (v.bytesValue !== undefined && v.bytesValue !== null) return String(v.bytesValue);
  if (v.arrayValue) return list<OtlpAnyValue>(v.arrayValue.values, 'arrayValue.values').map(plainValue);
  if (v.kvlistValue) {
    // No prototype, so that a key named __proto__ stays a key.
    const out: { [key: string]: Plain } = Object.create(null);
    for (const kv of list<OtlpKeyValue>(v.kvlistValue.values, 'kvlistValue.values')) {
      const key = text(kv?.key, 'attribute key');
      if (key) out[key] = plainValue(kv.value);
    }
    return out;
  }
  return null;
}

/** An AnyValue as the text we store: strings as they are, numbers and bools printed, the rest as JSON. */
export function valueText(v: OtlpAnyValue | null | undefined): string {
  const p = plainValue(v);
  if (p === null) return '';
  return typeof p === 'string' ? p : typeof p === 'object' ? JSON.stringify(p) : String(p);
}

/** Cuts text to `max` characters without leaving half a surrogate pair. */
export function cut(value: string, max: number): string {
  if (value.length <= max) return value;
  let end = max;
  const last = value.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return value.slice(0, end);
}

/** key → value text (a Map(String, String) column); later duplicates win, as most SDKs intend. */
export function attributeMap(kvs: unknown, field: string, maxValueLength: number, maxCount = Infinity): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  let count = 0;
  for (const kv of list<OtlpKeyValue>(kvs, field)) {
    const key = text(kv?.key, 'attribute key');
    if (!key) continue;
    if (!(key in out) && ++count > maxCount) continue;
    out[key] = cut(valueText(kv.value), maxValueLength);
  }
  return out;
}

export interface ResourceIdentity {
  service: string;
  namespace: string;
}

/** The service a resource names (service.name, else Kuma's kuma.io/service) and its namespace. */
export function resourceIdentity(attributes: Record<string, string>): ResourceIdentity {
  return {
    service: attributes['service.name'] || attributes['kuma.io/service'] || 'unknown_service',
    namespace: attributes['k8s.namespace.name'] || attributes['service.namespace'] || attributes['kuma.io/namespace'] || '',
  };
}

/**
 * Nanoseconds as the `seconds.fraction` text a DateTime64(9) column parses exactly. The seconds are
 * padded to 10 digits: ClickHouse reads a shorter number (`0.000000000`) as a date and fails the insert.
 */
export function nanosText(ns: bigint): string {
  const seconds = (ns / 1_000_000_000n).toString().padStart(10, '0');
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${seconds}.${fraction}`;
}

export const MAX_TIME_NS = 2n ** 63n;

/** Items a request may carry, refused or not; shares limits.spans_per_request with traces. */
export function countItem(seen: { count: number }, limit: number, what: string): void {
  if (++seen.count > limit) throw new BadRequestError(`request has more than ${limit} ${what} (limits.spans_per_request)`, 'too_large');
}

// ---- replies ----

export function encodeMetricsResponseProto(rejected: number, errorMessage: string): Uint8Array {
  const body = rejected > 0 ? { partialSuccess: { rejectedDataPoints: rejected, errorMessage } } : {};
  return MetricsResponse.encode(MetricsResponse.create(body)).finish();
}

export function metricsResponseJson(rejected: number, errorMessage: string): object {
  return rejected > 0 ? { partialSuccess: { rejectedDataPoints: String(rejected), errorMessage } } : {};
}

export function encodeLogsResponseProto(rejected: number, errorMessage: string): Uint8Array {
  const body = rejected > 0 ? { partialSuccess: { rejectedLogRecords: rejected, errorMessage } } : {};
  return LogsResponse.encode(LogsResponse.create(body)).finish();
}

export function logsResponseJson(rejected: number, errorMessage: string): object {
  return rejected > 0 ? { partialSuccess: { rejectedLogRecords: String(rejected), errorMessage } } : {};
}

/** A reply decoder, for tests and tools: the partial success in a protobuf reply. */
export function decodeResponseProto(signal: 'logs' | 'metrics', body: Uint8Array): Record<string, unknown> {
  const type = signal === 'logs' ? LogsResponse : MetricsResponse;
  return type.toObject(type.decode(body), { longs: Number, defaults: false });
}
