// Builds SpanRecords for the service-graph tests: hand-written traces stay short and readable.
import { type Attribute, type SpanKind, type SpanRecord, StatusCode } from '../model.ts';

/** 2025-11-26T06:53:20Z in ns: an arbitrary fixed origin so expected times can be written exactly. */
export const T0 = 1_764_140_000_000_000_000n;
export const MS = 1_000_000n;

export interface SpanSpec {
  /** Short hex, left-padded to 32 characters. Default '1'. */
  trace?: string;
  /** Short hex, left-padded to 16 characters. */
  id: string;
  parent?: string;
  kind: SpanKind;
  service: string;
  namespace?: string;
  /** Milliseconds after T0. */
  startMs?: number;
  durationMs: number;
  attributes?: Record<string, string | number | boolean>;
  resourceAttributes?: Record<string, string>;
  status?: StatusCode;
  traceState?: string;
}

export function traceId(short: string): string {
  return short.padStart(32, '0');
}

export function spanId(short: string): string {
  return short.padStart(16, '0');
}

function toAttributes(values: Record<string, string | number | boolean>): Attribute[] {
  return Object.entries(values).map(([key, value]): Attribute => {
    if (typeof value === 'boolean') return { key, type: 'bool', value: String(value) };
    if (typeof value === 'number') return { key, type: Number.isInteger(value) ? 'int' : 'double', value: String(value) };
    return { key, type: 'string', value };
  });
}

export function span(spec: SpanSpec): SpanRecord {
  const start = T0 + BigInt(spec.startMs ?? 0) * MS;
  return {
    traceId: traceId(spec.trace ?? '1'),
    spanId: spanId(spec.id),
    parentSpanId: spec.parent === undefined ? '' : spanId(spec.parent),
    traceState: spec.traceState ?? '',
    name: `${spec.service} span ${spec.id}`,
    kind: spec.kind,
    startTimeUnixNano: start,
    endTimeUnixNano: start + BigInt(Math.round(spec.durationMs * 1_000_000)),
    attributes: toAttributes(spec.attributes ?? {}),
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    statusCode: spec.status ?? StatusCode.Unset,
    statusMessage: '',
    flags: 0,
    resource: {
      serviceName: spec.service,
      namespace: spec.namespace ?? '',
      attributes: toAttributes({ 'service.name': spec.service, ...(spec.resourceAttributes ?? {}) }),
    },
    scope: { name: 'test', version: '' },
  };
}
