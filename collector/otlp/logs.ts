// OTLP logs (protobuf or OTLP/JSON) → log rows for the `logs` table. Every record is kept as it came
// (body as text, attributes as text maps); a record with a malformed trace or span id is refused and
// reported back as partial success (rejected_log_records).
import type { TraceLimits } from './traces.ts';
import {
  type IdEncoding,
  LogsRequest,
  MAX_TIME_NS,
  type OtlpAnyValue,
  type OtlpResource,
  type OtlpScope,
  attributeMap,
  countItem,
  cut,
  decodeProtoRequest,
  idHex,
  list,
  nanosText,
  num,
  parseJsonRequest,
  plainValue,
  resourceIdentity,
  text,
  u64,
  valueText,
} from './signals.ts';

export interface LogRecordRow {
  /** The event's time; the observed time when the sender gave none, our receive time when neither. */
  timeUnixNano: bigint;
  observedTimeUnixNano: bigint;
  /** Lowercase hex, '' when the record is not tied to a span. */
  traceId: string;
  spanId: string;
  flags: number;
  severityNumber: number;
  severityText: string;
  /** A string body as it is; any other body as JSON. */
  body: string;
  /** The body as a JSON value when it was a key/value list (Envoy can log a structured body). */
  structuredBody: Record<string, unknown> | null;
  eventName: string;
  attributes: Record<string, string>;
  resourceAttributes: Record<string, string>;
  service: string;
  namespace: string;
  scopeName: string;
}

export interface ConvertedLogs {
  records: LogRecordRow[];
  rejected: number;
  errorMessage: string;
}

interface RawLogRecord {
  timeUnixNano?: unknown;
  observedTimeUnixNano?: unknown;
  severityNumber?: unknown;
  severityText?: unknown;
  body?: OtlpAnyValue | null;
  attributes?: unknown;
  flags?: unknown;
  traceId?: unknown;
  spanId?: unknown;
  eventName?: unknown;
}
interface RawScopeLogs {
  scope?: OtlpScope | null;
  logRecords?: unknown;
}
interface RawResourceLogs {
  resource?: OtlpResource | null;
  scopeLogs?: unknown;
  /** Senders from before OTLP 0.15. */
  instrumentationLibraryLogs?: unknown;
}

/** Columns of `logs` in the order encodeLogRow writes them. */
export const LOG_COLUMNS = [
  'ts', 'observed_ts', 'trace_id', 'span_id', 'flags', 'severity_number', 'severity_text', 'body', 'event_name',
  'attributes', 'resource_attributes', 'service', 'namespace', 'scope_name',
] as const;

export function convertLogsProto(body: Uint8Array, limits: TraceLimits, nowNs = nowNanos()): ConvertedLogs {
  return convertLogs(decodeProtoRequest(LogsRequest, body, 'ExportLogsServiceRequest'), 'base64', limits, nowNs);
}

export function convertLogsJson(body: string, limits: TraceLimits, nowNs = nowNanos()): ConvertedLogs {
  return convertLogs(parseJsonRequest(body, 'ExportLogsServiceRequest'), 'hex', limits, nowNs);
}

export function nowNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

const HEX = /^[0-9a-f]*$/;

function convertLogs(request: Record<string, unknown>, ids: IdEncoding, limits: TraceLimits, nowNs: bigint): ConvertedLogs {
  const result: ConvertedLogs = { records: [], rejected: 0, errorMessage: '' };
  const seen = { count: 0 };
  const max = limits.attributeValueLength;
  for (const rl of list<RawResourceLogs>(request.resourceLogs, 'resourceLogs')) {
    const resourceAttributes = attributeMap(rl?.resource?.attributes, 'resource.attributes', max);
    const { service, namespace } = resourceIdentity(resourceAttributes);
    const scopes = list<RawScopeLogs>(rl.scopeLogs ?? rl.instrumentationLibraryLogs, 'scopeLogs');
    for (const sl of scopes) {
      const scopeName = text(sl?.scope?.name, 'scope.name');
      for (const r of list<RawLogRecord>(sl.logRecords, 'logRecords')) {
        countItem(seen, limits.spansPerRequest, 'log records');
        const traceId = idHex(r.traceId, ids);
        const spanId = idHex(r.spanId, ids);
        const problem =
          traceId !== '' && (traceId.length !== 32 || !HEX.test(traceId))
            ? 'an invalid trace_id (must be 16 bytes or empty)'
            : spanId !== '' && (spanId.length !== 16 || !HEX.test(spanId))
              ? 'an invalid span_id (must be 8 bytes or empty)'
              : undefined;
        if (problem) {
          if (result.rejected === 0) result.errorMessage = `a log record has ${problem}`;
          result.rejected++;
          continue;
        }
        let observed = u64(r.observedTimeUnixNano);
        if (observed === 0n || observed >= MAX_TIME_NS) observed = nowNs;
        let time = u64(r.timeUnixNano);
        if (time === 0n || time >= MAX_TIME_NS) time = observed;
        const plain = plainValue(r.body);
        result.records.push({
          timeUnixNano: time,
          observedTimeUnixNano: observed,
          traceId: /^0+$/.test(traceId) ? '' : traceId,
          spanId: /^0+$/.test(spanId) ? '' : spanId,
          flags: uint32(r.flags),
          severityNumber: severity(r.severityNumber),
          severityText: cut(text(r.severityText, 'severityText'), max),
          body: cut(valueText(r.body), Math.max(max, 65536)),
          structuredBody: plain !== null && typeof plain === 'object' && !Array.isArray(plain) ? plain : null,
          eventName: cut(text(r.eventName, 'eventName'), max),
          attributes: attributeMap(r.attributes, 'attributes', max, limits.attributesPerSpan),
          resourceAttributes,
          service,
          namespace,
          scopeName,
        });
      }
    }
  }
  return result;
}

const SEVERITY_NAMES = ['UNSPECIFIED', 'TRACE', 'TRACE2', 'TRACE3', 'TRACE4', 'DEBUG', 'DEBUG2', 'DEBUG3', 'DEBUG4', 'INFO', 'INFO2', 'INFO3', 'INFO4',
  'WARN', 'WARN2', 'WARN3', 'WARN4', 'ERROR', 'ERROR2', 'ERROR3', 'ERROR4', 'FATAL', 'FATAL2', 'FATAL3', 'FATAL4'];

/** SeverityNumber 0..24 from a number or, in OTLP/JSON, its name (SEVERITY_NUMBER_INFO); 0 when neither. */
function severity(value: unknown): number {
  if (typeof value === 'string' && value.startsWith('SEVERITY_NUMBER_')) return Math.max(SEVERITY_NAMES.indexOf(value.slice(16)), 0);
  const n = Math.trunc(num(value));
  return n >= 0 && n <= 255 ? n : 0;
}

function uint32(value: unknown): number {
  const n = num(value);
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff ? n : 0;
}

/** One JSONCompactEachRow line (with its newline) in LOG_COLUMNS order. */
export function encodeLogRow(r: LogRecordRow): string {
  return (
    JSON.stringify([
      nanosText(r.timeUnixNano), nanosText(r.observedTimeUnixNano), r.traceId, r.spanId, r.flags, r.severityNumber, r.severityText,
      r.body, r.eventName, r.attributes, r.resourceAttributes, r.service, r.namespace, r.scopeName,
    ]) + '\n'
  );
}
