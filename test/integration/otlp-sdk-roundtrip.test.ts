// The OpenTelemetry JS SDK's real exporters (gRPC, HTTP/protobuf, HTTP/JSON; each with and without
// gzip) send a small trace to a real meshlens; every span must come back through the Jaeger API with
// its parent links, attributes (with their types), events, links, status and resource.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SpanKind, SpanStatusCode, context, trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as HttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as HttpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import type { JaegerTrace } from '../../query/jaeger.ts';
import { getJson, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';

let meshlens: TestMeshlens;
before(async () => {
  meshlens = await startTestMeshlens();
});
after(async () => {
  await meshlens.destroy();
});

type Transport = 'grpc' | 'http/protobuf' | 'http/json';

function exporterFor(transport: Transport, gzip: boolean): SpanExporter {
  const compression = gzip ? ('gzip' as never) : ('none' as never);
  if (transport === 'grpc') return new GrpcExporter({ url: `http://${meshlens.otlpGrpcAddress}`, compression });
  const url = `${meshlens.otlpHttpUrl}/v1/traces`;
  return transport === 'http/json' ? new HttpJsonExporter({ url, compression }) : new HttpProtoExporter({ url, compression });
}

/** Emits a two-span trace (SERVER parent, CLIENT child with an event, a link and an error). */
interface SentTrace {
  traceId: string;
  rootId: string;
  childId: string;
  linkedTraceId: string;
  /** [start µs, duration µs] of each span as the SDK recorded them. */
  rootTimes: [number, number];
  childTimes: [number, number];
  eventTime: number;
}

const hrNanos = ([s, ns]: [number, number]) => BigInt(s) * 1_000_000_000n + BigInt(ns);
/** An SDK HrTime ([s, ns]) in whole microseconds, as Jaeger's model counts. */
const hrMicros = (t: [number, number]) => Number(hrNanos(t) / 1000n);
const times = (span: unknown): [number, number] => {
  const r = span as ReadableSpan;
  return [hrMicros(r.startTime), Number((hrNanos(r.endTime) - hrNanos(r.startTime)) / 1000n)];
};

async function sendTrace(transport: Transport, gzip: boolean): Promise<SentTrace> {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      'service.name': `roundtrip-${transport.replace('/', '-')}-${gzip ? 'gzip' : 'plain'}`,
      'k8s.namespace.name': 'bookinfo',
      'process.pid': 4242,
    }),
    spanProcessors: [new BatchSpanProcessor({ exporter: exporterFor(transport, gzip) })],
  });
  const tracer: Tracer = provider.getTracer('roundtrip-test', '1.2.3');
  const linked = tracer.startSpan('elsewhere');
  linked.end();
  const root = tracer.startSpan('GET /productpage', {
    kind: SpanKind.SERVER,
    attributes: { 'http.request.method': 'GET', 'http.response.status_code': 200, 'sample.ratio': 0.25, 'cache.hit': false, 'tags.list': ['a', 'b'] },
  });
  const child = tracer.startSpan(
    'GET reviews',
    { kind: SpanKind.CLIENT, attributes: { 'server.address': 'reviews' }, links: [{ context: linked.spanContext(), attributes: { 'link.reason': 'retry' } }] },
    trace.setSpan(context.active(), root),
  );
  child.addEvent('retrying', { attempt: 2 });
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream reset' });
  child.end();
  root.end();
  await provider.forceFlush();
  await provider.shutdown();
  return {
    traceId: root.spanContext().traceId,
    rootId: root.spanContext().spanId,
    childId: child.spanContext().spanId,
    linkedTraceId: linked.spanContext().traceId,
    rootTimes: times(root),
    childTimes: times(child),
    eventTime: hrMicros((child as unknown as ReadableSpan).events[0]!.time),
  };
}

const tag = (tags: JaegerTrace['spans'][number]['tags'], key: string) => tags.find((t) => t.key === key);

for (const transport of ['grpc', 'http/protobuf', 'http/json'] as const) {
  for (const gzip of [false, true]) {
    describe(`OTLP ${transport}${gzip ? ' + gzip' : ''}`, () => {
      it('stores every span and gives it back through /api/traces/{id}', async () => {
        const sent = await sendTrace(transport, gzip);
        const { status, body } = await getJson<{ data: JaegerTrace[]; errors: unknown }>(`${meshlens.queryUrl}/api/traces/${sent.traceId}`);
        assert.equal(status, 200);
        assert.equal(body.errors, null);
        const got = body.data[0]!;
        assert.equal(got.traceID, sent.traceId);
        assert.equal(got.spans.length, 2);

        const root = got.spans.find((s) => s.spanID === sent.rootId)!;
        const child = got.spans.find((s) => s.spanID === sent.childId)!;
        assert.ok(root && child, 'both spans present');
        assert.equal(root.operationName, 'GET /productpage');
        assert.deepEqual(root.references, []);
        assert.deepEqual(child.references[0], { refType: 'CHILD_OF', traceID: sent.traceId, spanID: sent.rootId });
        assert.deepEqual(child.references[1], { refType: 'FOLLOWS_FROM', traceID: sent.linkedTraceId, spanID: child.references[1]!.spanID });

        // attribute types survive the round trip
        assert.deepEqual(tag(root.tags, 'http.request.method'), { key: 'http.request.method', type: 'string', value: 'GET' });
        assert.deepEqual(tag(root.tags, 'http.response.status_code'), { key: 'http.response.status_code', type: 'int64', value: 200 });
        assert.deepEqual(tag(root.tags, 'sample.ratio'), { key: 'sample.ratio', type: 'float64', value: 0.25 });
        assert.deepEqual(tag(root.tags, 'cache.hit'), { key: 'cache.hit', type: 'bool', value: false });
        assert.deepEqual(tag(root.tags, 'tags.list'), { key: 'tags.list', type: 'string', value: '["a","b"]' });
        assert.equal(tag(root.tags, 'span.kind')?.value, 'server');
        assert.equal(tag(child.tags, 'span.kind')?.value, 'client');
        assert.equal(tag(root.tags, 'otel.scope.name')?.value, 'roundtrip-test');
        assert.equal(tag(root.tags, 'otel.scope.version')?.value, '1.2.3');

        // status
        assert.equal(tag(child.tags, 'error')?.value, true);
        assert.equal(tag(child.tags, 'otel.status_code')?.value, 'ERROR');
        assert.equal(tag(child.tags, 'otel.status_description')?.value, 'upstream reset');
        assert.equal(tag(root.tags, 'error'), undefined);

        // events
        assert.equal(child.logs.length, 1);
        assert.deepEqual(child.logs[0]!.fields, [
          { key: 'event', type: 'string', value: 'retrying' },
          { key: 'attempt', type: 'int64', value: 2 },
        ]);
        // Jaeger's times are whole microseconds (start and duration each truncated), so sums may be 2 µs short.
        assert.equal(child.logs[0]!.timestamp, sent.eventTime);

        // times exactly as the SDK recorded them (Jaeger counts whole microseconds)
        assert.deepEqual([root.startTime, root.duration], sent.rootTimes);
        assert.deepEqual([child.startTime, child.duration], sent.childTimes);

        // resource
        const process = got.processes[root.processID]!;
        assert.equal(process.serviceName, `roundtrip-${transport.replace('/', '-')}-${gzip ? 'gzip' : 'plain'}`);
        assert.deepEqual(tag(process.tags, 'k8s.namespace.name'), { key: 'k8s.namespace.name', type: 'string', value: 'bookinfo' });
        assert.deepEqual(tag(process.tags, 'process.pid'), { key: 'process.pid', type: 'int64', value: 4242 });
        assert.equal(child.processID, root.processID);
      });
    });
  }
}
