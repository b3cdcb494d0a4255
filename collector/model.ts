// The collector's internal span model: what every receiver produces and every exporter consumes.
// It follows OTLP's shape (the richest format we receive), with values already normalised for
// storage: ids as lowercase hex, times as bigint nanoseconds, attribute values as typed text.

export const SpanKind = {
  Unspecified: 0,
  Internal: 1,
  Server: 2,
  Client: 3,
  Producer: 4,
  Consumer: 5,
} as const;
export type SpanKind = (typeof SpanKind)[keyof typeof SpanKind];

export const StatusCode = { Unset: 0, Ok: 1, Error: 2 } as const;
export type StatusCode = (typeof StatusCode)[keyof typeof StatusCode];

/** How an attribute value was typed by its sender; lets reads give it back with the same type. */
export type AttributeType = 'string' | 'bool' | 'int' | 'double' | 'bytes' | 'array' | 'kvlist';

/**
 * One attribute. `value` is the text form we store and search on: ints in decimal, doubles as JS
 * prints them, bools as `true`/`false`, bytes in base64, arrays and key/value lists as JSON.
 */
export interface Attribute {
  key: string;
  type: AttributeType;
  value: string;
}

/** Who emitted a batch of spans: shared by reference among all spans of one OTLP ResourceSpans. */
export interface Resource {
  serviceName: string;
  /** Kubernetes namespace (or service.namespace); '' when unknown. */
  namespace: string;
  attributes: Attribute[];
}

export interface InstrumentationScope {
  name: string;
  version: string;
}

export interface SpanEvent {
  timeUnixNano: bigint;
  name: string;
  attributes: Attribute[];
  droppedAttributesCount: number;
}

export interface SpanLink {
  traceId: string;
  spanId: string;
  traceState: string;
  attributes: Attribute[];
  droppedAttributesCount: number;
}

export interface SpanRecord {
  /** 32 lowercase hex characters. */
  traceId: string;
  /** 16 lowercase hex characters. */
  spanId: string;
  /** 16 lowercase hex characters, or '' for a root span. */
  parentSpanId: string;
  traceState: string;
  name: string;
  kind: SpanKind;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Attribute[];
  droppedAttributesCount: number;
  events: SpanEvent[];
  droppedEventsCount: number;
  links: SpanLink[];
  droppedLinksCount: number;
  statusCode: StatusCode;
  statusMessage: string;
  flags: number;
  resource: Resource;
  scope: InstrumentationScope;
}
