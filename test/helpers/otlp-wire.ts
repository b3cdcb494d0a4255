// Raw OTLP traffic for ingest tests: request bodies built by the OpenTelemetry SDK's own serializers
// from real SDK spans (or bent from them, for malformed cases), sent over plain fetch and a plain
// grpc-js client, and replies decoded with decoders that are not meshlens' own.
import { SpanKind, SpanStatusCode, context, trace, type Tracer } from '@opentelemetry/api';
import * as grpc from '@grpc/grpc-js';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import protobuf from 'protobufjs';

// ---- spans ----

const captured = new InMemorySpanExporter();
const provider = new TracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'ingest-test', 'k8s.namespace.name': 'robustness' }),
  spanProcessors: [new SimpleSpanProcessor({ exporter: captured })],
});
const tracer: Tracer = provider.getTracer('ingest-test', '0.0.1');

/** Runs `emit` and returns the spans it ended, in the order they ended. */
export function recordSpans(emit: (tracer: Tracer) => void): ReadableSpan[] {
  captured.reset();
  emit(tracer);
  const spans = captured.getFinishedSpans().slice();
  captured.reset();
  return spans;
}

export interface BuiltTrace {
  traceId: string;
  spans: ReadableSpan[];
}

/**
 * One trace of `spanCount` spans: a SERVER root and CLIENT children. `attributes` go on every span
 * (on top of a per-span index), so callers can make bodies as large as they need.
 */
export function buildTrace(spanCount: number, options: { name?: string; attributes?: Record<string, string> } = {}): BuiltTrace {
  const name = options.name ?? 'GET /work';
  const spans = recordSpans((t) => {
    const root = t.startSpan(name, { kind: SpanKind.SERVER, attributes: { ...options.attributes, 'span.index': 0 } });
    const parent = trace.setSpan(context.active(), root);
    for (let i = 1; i < spanCount; i++) {
      t.startSpan(`${name} step ${i}`, { kind: SpanKind.CLIENT, attributes: { ...options.attributes, 'span.index': i } }, parent).end();
    }
    root.setStatus({ code: SpanStatusCode.OK });
    root.end();
  });
  return { traceId: spans[0]!.spanContext().traceId, spans };
}

/** A copy of an SDK span with some of what it says replaced (ids, kind, status), for malformed input. */
export function alterSpan(
  span: ReadableSpan,
  change: { traceId?: string; spanId?: string; name?: string; kind?: number; statusCode?: number },
): ReadableSpan {
  const original = span.spanContext();
  const spanContext = { ...original, traceId: change.traceId ?? original.traceId, spanId: change.spanId ?? original.spanId };
  return {
    name: change.name ?? span.name,
    // The serializer writes kind + 1 (the API has no UNSPECIFIED), so a wire kind K needs K - 1 here.
    kind: change.kind === undefined ? span.kind : ((change.kind - 1) as SpanKind),
    spanContext: () => spanContext,
    parentSpanContext: span.parentSpanContext,
    startTime: span.startTime,
    endTime: span.endTime,
    status: change.statusCode === undefined ? span.status : { code: change.statusCode as SpanStatusCode },
    attributes: span.attributes,
    links: span.links,
    events: span.events,
    duration: span.duration,
    ended: span.ended,
    resource: span.resource,
    instrumentationScope: span.instrumentationScope,
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount,
  };
}

export function protobufBody(spans: ReadableSpan[]): Buffer {
  return Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!);
}

export function jsonBody(spans: ReadableSpan[]): Buffer {
  return Buffer.from(JsonTraceSerializer.serializeRequest(spans)!);
}

// ---- OTLP/HTTP ----

export const PROTOBUF = 'application/x-protobuf';
export const JSON_TYPE = 'application/json';

export interface HttpReply {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** POST {otlpHttpUrl}/v1/traces with a Buffer body (so fetch sends an explicit Content-Length). */
export async function postTraces(
  otlpHttpUrl: string,
  body: Buffer,
  options: { contentType?: string; contentEncoding?: string; signal?: AbortSignal } = {},
): Promise<HttpReply> {
  const headers: Record<string, string> = { 'content-type': options.contentType ?? PROTOBUF };
  if (options.contentEncoding) headers['content-encoding'] = options.contentEncoding;
  const response = await fetch(`${otlpHttpUrl}/v1/traces`, { method: 'POST', headers, body, signal: options.signal ?? AbortSignal.timeout(15_000) });
  return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
}

// ---- OTLP/gRPC ----

export const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

export interface GrpcReply {
  /** grpc.status code; 0 for OK. */
  code: number;
  details: string;
  /** Trailing metadata of a failed call. */
  metadata?: grpc.Metadata;
  /** Raw ExportTraceServiceResponse of a successful call. */
  response?: Buffer;
}

/** A grpc-js client that sends raw request bytes to TraceService/Export. */
export class RawTraceClient {
  private readonly client: grpc.Client;

  constructor(address: string, options: { gzip?: boolean } = {}) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': -1,
      'grpc.max_receive_message_length': -1,
      ...(options.gzip ? { 'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip } : {}),
    });
  }

  export(body: Buffer, timeoutMs = 15_000): Promise<GrpcReply> {
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(
        EXPORT_PATH,
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (error, response) => {
          if (error) resolve({ code: error.code, details: error.details, metadata: error.metadata });
          else resolve({ code: grpc.status.OK, details: '', response: response! });
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

// ---- replies ----

const rpc = protobuf.parse(`
  syntax = "proto3";
  package google.rpc;
  message Any { string type_url = 1; bytes value = 2; }
  message Status { int32 code = 1; string message = 2; repeated Any details = 3; }
  message Duration { int64 seconds = 1; int32 nanos = 2; }
  message RetryInfo { Duration retry_delay = 1; }
`).root;
const StatusType = rpc.lookupType('google.rpc.Status');
const RetryInfoType = rpc.lookupType('google.rpc.RetryInfo');

export interface RpcStatus {
  code: number;
  message: string;
  details: Array<{ typeUrl: string; value: Uint8Array }>;
}

export function decodeRpcStatus(bytes: Uint8Array): RpcStatus {
  const status = StatusType.toObject(StatusType.decode(bytes), { defaults: true }) as RpcStatus;
  return status;
}

/** The RetryInfo delay (seconds) in a google.rpc.Status, or undefined when it carries none. */
export function retryDelaySeconds(status: RpcStatus): number | undefined {
  const detail = status.details.find((d) => d.typeUrl === 'type.googleapis.com/google.rpc.RetryInfo');
  if (!detail) return undefined;
  const info = RetryInfoType.toObject(RetryInfoType.decode(detail.value), { longs: Number, defaults: true }) as { retryDelay?: { seconds: number; nanos: number } };
  return (info.retryDelay?.seconds ?? 0) + (info.retryDelay?.nanos ?? 0) / 1e9;
}

export interface PartialSuccess {
  rejectedSpans: number;
  errorMessage: string;
}

/** The partial success of an ExportTraceServiceResponse (protobuf bytes or OTLP/JSON bytes). */
export function partialSuccess(body: Buffer, encoding: 'protobuf' | 'json'): PartialSuccess {
  const response = encoding === 'json' ? JsonTraceSerializer.deserializeResponse(body) : ProtobufTraceSerializer.deserializeResponse(body);
  return { rejectedSpans: Number(response.partialSuccess?.rejectedSpans ?? 0), errorMessage: response.partialSuccess?.errorMessage ?? '' };
}

// ---- meshlens' own metrics and stored traces ----

/** One scrape of GET /metrics. */
export class MetricsScrape {
  constructor(readonly text: string) {}

  /** Sum of the samples of `name` whose labels include `labels` (0 when there is none). */
  value(name: string, labels: Record<string, string> = {}): number {
    let sum = 0;
    for (const line of this.text.split('\n')) {
      if (line.startsWith('#')) continue;
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!match || match[1] !== name) continue;
      const have = new Map([...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
      if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(match[3]);
    }
    return sum;
  }
}

export async function scrapeMetrics(queryUrl: string): Promise<MetricsScrape> {
  const response = await fetch(`${queryUrl}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  return new MetricsScrape(await response.text());
}

export interface StoredSpan {
  spanID: string;
  operationName: string;
  tags: Array<{ key: string; type: string; value: string | number | boolean }>;
}

/** The spans stored for a trace, through the Jaeger API; [] when the trace is not found. */
export async function storedSpans(queryUrl: string, traceId: string): Promise<StoredSpan[]> {
  const response = await fetch(`${queryUrl}/api/traces/${traceId}`);
  if (response.status === 404) return [];
  if (response.status !== 200) throw new Error(`GET /api/traces/${traceId} answered ${response.status}: ${await response.text()}`);
  const body = (await response.json()) as { data: Array<{ spans: StoredSpan[] }> };
  return body.data[0]?.spans ?? [];
}
