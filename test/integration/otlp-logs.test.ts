// OTLP logs on 4317 and 4318: the OpenTelemetry SDK's real log exporters (gRPC, HTTP/protobuf,
// HTTP/JSON, with and without gzip) store every record in `logs`; hand-written Istio, Kuma and Consul
// access-log records become `otlp-logs` edges with exact counts and errors; bad input gets its error.
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { context, trace, TraceFlags } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as HttpJsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as HttpProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, BatchLogRecordProcessor, type LogRecordExporter } from '@opentelemetry/sdk-logs';
import { decodeResponseProto } from '../../collector/otlp/signals.ts';
import { getJson, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';

let meshlens: TestMeshlens;
before(async () => {
  meshlens = await startTestMeshlens();
});
after(async () => {
  await meshlens.destroy();
});

type Transport = 'grpc' | 'http/protobuf' | 'http/json';

function exporterFor(transport: Transport, gzip: boolean): LogRecordExporter {
  const compression = gzip ? ('gzip' as never) : ('none' as never);
  if (transport === 'grpc') return new GrpcLogExporter({ url: `http://${meshlens.otlpGrpcAddress}`, compression });
  const url = `${meshlens.otlpHttpUrl}/v1/logs`;
  return transport === 'http/json' ? new HttpJsonLogExporter({ url, compression }) : new HttpProtoLogExporter({ url, compression });
}

interface LogRow {
  severity_number: number;
  severity_text: string;
  body: string;
  trace_id: string;
  span_id: string;
  attributes: Record<string, string>;
  resource_attributes: Record<string, string>;
  namespace: string;
  scope_name: string;
  ts: string;
}

async function storedLogs(service: string): Promise<LogRow[]> {
  return meshlens.running.store.query<LogRow>(
    `SELECT severity_number, severity_text, body, trace_id, span_id, attributes, resource_attributes, namespace, scope_name,
       toString(toUnixTimestamp64Nano(ts)) AS ts
     FROM logs WHERE service = '${service}' ORDER BY ts, body`,
  );
}

describe('OTLP logs from the real SDK exporters', () => {
  for (const [transport, gzip] of [['grpc', false], ['grpc', true], ['http/protobuf', false], ['http/protobuf', true], ['http/json', false], ['http/json', true]] as const) {
    it(`stores every record sent over ${transport}${gzip ? ' with gzip' : ''}`, async () => {
      const service = `logs-${transport.replace('/', '-')}-${gzip ? 'gzip' : 'plain'}`;
      const provider = new LoggerProvider({
        resource: resourceFromAttributes({ 'service.name': service, 'k8s.namespace.name': 'shop' }),
        processors: [new BatchLogRecordProcessor({ exporter: exporterFor(transport, gzip) })],
      });
      const logger = provider.getLogger('checkout-logger', '2.0.0');
      const spanContext = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED };
      // Within retention (storage.retention, 7 days by default): older parts are dropped whole.
      const when = Date.now() - 60_000;
      logger.emit({
        severityNumber: SeverityNumber.ERROR,
        severityText: 'ERROR',
        body: 'payment declined',
        attributes: { 'order.id': 'A-17', attempts: 3, retried: true },
        timestamp: when,
        context: trace.setSpanContext(context.active(), spanContext),
      });
      logger.emit({ severityNumber: SeverityNumber.INFO, body: { event: 'cart', items: 2 }, timestamp: when + 1 });
      await provider.forceFlush();
      await provider.shutdown();

      // Acknowledged only once stored: the rows are there when the exporter's flush returns.
      const rows = await storedLogs(service);
      assert.equal(rows.length, 2);
      const [declined, cart] = rows as [LogRow, LogRow];
      assert.equal(declined.body, 'payment declined');
      assert.equal(declined.severity_number, SeverityNumber.ERROR);
      assert.equal(declined.severity_text, 'ERROR');
      assert.equal(declined.trace_id, spanContext.traceId);
      assert.equal(declined.span_id, spanContext.spanId);
      assert.deepEqual({ ...declined.attributes }, { 'order.id': 'A-17', attempts: '3', retried: 'true' });
      assert.equal(declined.resource_attributes['service.name'], service);
      assert.equal(declined.namespace, 'shop');
      assert.equal(declined.scope_name, 'checkout-logger');
      assert.equal(declined.ts, String(BigInt(when) * 1_000_000n));
      assert.deepEqual(JSON.parse(cart.body), { event: 'cart', items: 2 });
      assert.equal(cart.trace_id, '');
      assert.equal(cart.severity_number, SeverityNumber.INFO);
    });
  }
});

// ---- access logs → edges ----

const now = Date.now();
const nanos = (ms: number) => String(BigInt(ms) * 1_000_000n);
const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
const int = (key: string, value: number) => ({ key, value: { intValue: value } });

function record(attributes: unknown[], body?: string, offsetMs = 0): object {
  return { timeUnixNano: nanos(now + offsetMs), ...(body === undefined ? {} : { body: { stringValue: body } }), attributes };
}

/** Envoy's OpenTelemetry access logger's resource in an Istio sidecar of productpage-v1. */
const istioResource = {
  attributes: [
    str('log_name', 'otel_envoy_accesslog'),
    str('zone_name', ''),
    str('cluster_name', 'productpage.bookinfo'),
    str('node_name', 'sidecar~10.1.2.3~productpage-v1-6b746f74dc-9stvs.bookinfo~bookinfo.svc.cluster.local'),
  ],
};

const ISTIO_DETAILS_LINE = (code: number, ms: number) =>
  `[2026-11-26T09:00:00.000Z] "GET /details/0 HTTP/1.1" ${code} - via_upstream - "-" 0 178 ${ms} ${ms} "-" "curl/8.5.0" "8d3c3c52-1b4b-4b29-9b53-0d0a3a3f3b8a" "details:9080" "10.1.4.7:9080" outbound|9080||details.bookinfo.svc.cluster.local 10.1.2.3:51234 10.96.0.15:9080 10.1.2.3:40000 - default`;

const KUMA_LINE =
  '[2026-11-26T09:00:00.000Z] default "GET /api HTTP/1.1" 200 - 0 512 12 11 "-" "curl/8.5.0" "-" "c2a3b1f0-8a1e-4d1f-9c7e-5d2b8a1c3e4f" "backend:3001" "frontend_kuma-demo_svc_8080" "backend_kuma-demo_svc_3001" "10.0.0.9" "10.0.0.12:3001"';

const accessLogs = {
  resourceLogs: [
    {
      resource: istioResource,
      scopeLogs: [
        {
          scope: { name: 'envoy' },
          logRecords: [
            // Outbound, attribute form (envoyOtelAls with labels): three calls, one 503.
            record([str('upstream_cluster', 'outbound|9080||reviews.bookinfo.svc.cluster.local'), int('response_code', 200), int('duration', 10)]),
            record([str('upstream_cluster', 'outbound|9080||reviews.bookinfo.svc.cluster.local'), int('response_code', 200), int('duration', 20)]),
            record([str('upstream_cluster', 'outbound|9080||reviews.bookinfo.svc.cluster.local'), int('response_code', 503), int('duration', 30)]),
            // Inbound from a meshed caller (its outbound entry counts the call): no edge.
            record([
              str('upstream_cluster', 'inbound|9080||'),
              int('response_code', 200),
              { key: 'downstream_peer', value: { kvlistValue: { values: [str('workload', 'istio-ingressgateway'), str('namespace', 'istio-system')] } } },
            ]),
            // Inbound from outside the mesh: unknown → productpage.
            record([str('upstream_cluster', 'inbound|9080||'), int('response_code', 200), int('duration', 5)]),
            // Istio's default text format: two calls to details, one a 500.
            record([], ISTIO_DETAILS_LINE(200, 7)),
            record([], ISTIO_DETAILS_LINE(500, 9)),
            // gRPC: UNAVAILABLE is a failure even with HTTP 200.
            record([str('upstream_cluster', 'outbound|9090||ratings.bookinfo.svc.cluster.local'), int('response_code', 200), str('grpc_status', 'UNAVAILABLE'), int('duration', 4)]),
            // An application log: stored, no edge.
            record([], 'GET /productpage served from cache'),
          ],
        },
      ],
    },
    {
      // Kuma MeshAccessLog, OpenTelemetry backend: attributes, then the default format as the body.
      resource: { attributes: [str('service.name', 'frontend_kuma-demo_svc_8080')] },
      scopeLogs: [
        {
          logRecords: [
            record([str('KUMA_SOURCE_SERVICE', 'frontend_kuma-demo_svc_8080'), str('KUMA_DESTINATION_SERVICE', 'backend_kuma-demo_svc_3001'), str('status', '200'), str('duration', '15')]),
            record([str('KUMA_SOURCE_SERVICE', 'frontend_kuma-demo_svc_8080'), str('KUMA_DESTINATION_SERVICE', 'backend_kuma-demo_svc_3001'), str('status', '500'), str('duration', '25')]),
            record([], KUMA_LINE),
          ],
        },
      ],
    },
    {
      // Consul builtin/otel-access-logging: Envoy's resource names the proxy's service.
      resource: { attributes: [str('log_name', 'consul'), str('cluster_name', 'web'), str('node_name', 'web-sidecar-proxy')] },
      scopeLogs: [
        {
          logRecords: [
            record([str('upstream_cluster', 'backend.default.dc1.internal.11111111-2222-3333-4444-555555555555.consul'), int('response_code', 502), int('duration', 40)]),
            record([str('upstream_cluster', 'backend.default.dc1.internal.11111111-2222-3333-4444-555555555555.consul'), int('response_code', 404), int('duration', 3)]),
            // The proxy's own inbound side, with the caller's SPIFFE id: counted by the caller.
            record([str('upstream_cluster', 'local_app'), int('response_code', 200), str('downstream_peer_uri_san', 'spiffe://11111111.consul/ns/default/dc/dc1/svc/frontend')]),
          ],
        },
      ],
    },
  ],
};

interface GraphEdge {
  id: string;
  source: string;
  target: string;
  protocol: string;
  requests: number;
  errors: number;
  signals: string[];
}

async function graphEdges(signal: string): Promise<GraphEdge[]> {
  await meshlens.running.collector!.edges.flush();
  const { status, body } = await getJson<{ edges: GraphEdge[] }>(
    `${meshlens.queryUrl}/api/v1/service-graph?signal=${signal}&start=${now - 3_600_000}&end=${now + 3_600_000}`,
  );
  assert.equal(status, 200);
  return body.edges;
}

describe('access logs become otlp-logs edges', () => {
  it('counts Istio, Kuma and Consul access-log records once each, with their errors', async () => {
    const response = await fetch(`${meshlens.otlpHttpUrl}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(accessLogs),
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {});

    const edges = await graphEdges('otlp-logs');
    const summary = Object.fromEntries(edges.map((e) => [e.id, [e.protocol, e.requests, e.errors]]));
    assert.deepEqual(summary, {
      'bookinfo/productpage-v1->bookinfo/reviews': ['http', 3, 1],
      'unknown->bookinfo/productpage-v1': ['http', 1, 0],
      'bookinfo/productpage-v1->bookinfo/details': ['http', 2, 1],
      'bookinfo/productpage-v1->bookinfo/ratings': ['grpc', 1, 1],
      'kuma-demo/frontend->kuma-demo/backend': ['http', 3, 1],
      'web->default/backend': ['http', 2, 1],
    });
    for (const edge of edges) assert.deepEqual(edge.signals, ['otlp-logs']);

    const [stored] = await meshlens.running.store.query<{ n: string }>(`SELECT count() AS n FROM logs WHERE scope_name = 'envoy' OR resource_attributes['log_name'] = 'consul' OR service = 'frontend_kuma-demo_svc_8080'`);
    assert.equal(Number(stored!.n), 15);
  });
});

// ---- bad input ----

describe('bad OTLP logs requests', () => {
  it('refuses a truncated protobuf body with 400 and a google.rpc.Status', async () => {
    const response = await fetch(`${meshlens.otlpHttpUrl}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      // resource_logs (field 1, length 50) with only 3 bytes after it.
      body: Buffer.from([0x0a, 0x32, 0x0a, 0x01, 0x00]),
    });
    assert.equal(response.status, 400);
    assert.equal(response.headers.get('content-type'), 'application/x-protobuf');
    assert.ok((await response.arrayBuffer()).byteLength > 0);
  });

  it('refuses bad JSON and a wrong content type with a one-line reason', async () => {
    const bad = await fetch(`${meshlens.otlpHttpUrl}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"resourceLogs": [' });
    assert.equal(bad.status, 400);
    const badBody = (await bad.json()) as { code: number; message: string };
    assert.equal(badBody.code, 3);
    assert.match(badBody.message, /^invalid OTLP\/JSON/);

    const wrongType = await fetch(`${meshlens.otlpHttpUrl}/v1/metrics`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    assert.equal(wrongType.status, 400);
    assert.match(((await wrongType.json()) as { message: string }).message, /unsupported content type "text\/plain"/);

    const notList = await fetch(`${meshlens.otlpHttpUrl}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"resourceLogs": 7}' });
    assert.equal(notList.status, 400);
    assert.match(((await notList.json()) as { message: string }).message, /resourceLogs must be an array/);
  });

  it('reports a record with a bad trace id as partial success (JSON and protobuf replies), storing the rest', async () => {
    const body = {
      resourceLogs: [
        {
          resource: { attributes: [str('service.name', 'partial-logs')] },
          scopeLogs: [
            {
              logRecords: [
                { ...record([], 'kept'), traceId: 'abc' },
                { ...record([], 'kept too'), severityNumber: 'SEVERITY_NUMBER_WARN', severityText: 'WARN' },
                { ...record([], 'also bad'), spanId: '0102' },
              ],
            },
          ],
        },
      ],
    };
    const response = await fetch(`${meshlens.otlpHttpUrl}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(JSON.stringify(body)),
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {
      partialSuccess: { rejectedLogRecords: '2', errorMessage: 'a log record has an invalid trace_id (must be 16 bytes or empty)' },
    });
    const rows = await storedLogs('partial-logs');
    assert.deepEqual(rows.map((r) => [r.body, r.severity_number, r.severity_text]), [['kept too', 13, 'WARN']]);
  });

  it('answers an undecodable gRPC Export with INVALID_ARGUMENT', async () => {
    const client = new grpc.Client(meshlens.otlpGrpcAddress, grpc.credentials.createInsecure());
    try {
      for (const path of ['/opentelemetry.proto.collector.logs.v1.LogsService/Export', '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export']) {
        const error = await new Promise<grpc.ServiceError | null>((resolve) => {
          client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0x0a, 0x32, 0x0a]), (err) => resolve(err));
        });
        assert.equal(error?.code, grpc.status.INVALID_ARGUMENT, path);
        assert.match(error!.details, /^invalid Export(Logs|Metrics)ServiceRequest protobuf/);
      }
    } finally {
      client.close();
    }
  });

  it('answers a protobuf request with a protobuf partial success', async () => {
    const { LogsRequest } = await import('../../collector/otlp/signals.ts');
    const message = LogsRequest.fromObject({
      resourceLogs: [{ scopeLogs: [{ logRecords: [{ timeUnixNano: nanos(now), traceId: Buffer.from('0102', 'hex'), body: { stringValue: 'short id' } }] }] }],
    });
    const response = await fetch(`${meshlens.otlpHttpUrl}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: LogsRequest.encode(message).finish(),
    });
    assert.equal(response.status, 200);
    assert.deepEqual(decodeResponseProto('logs', new Uint8Array(await response.arrayBuffer())), {
      partialSuccess: { rejectedLogRecords: 1, errorMessage: 'a log record has an invalid trace_id (must be 16 bytes or empty)' },
    });
  });
});
