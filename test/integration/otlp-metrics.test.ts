// OTLP metrics on 4317 and 4318: the OpenTelemetry SDK's real metric exporters (gRPC, HTTP/protobuf,
// HTTP/JSON) store every data point in `metrics`; hand-written Kuma (cumulative) and Envoy stat-sink
// (delta) cluster stats become `otlp-metrics` edges — the first cumulative export is only a baseline;
// malformed points are reported as partial success.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as HttpJsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as HttpProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { MetricsRequest, decodeResponseProto } from '../../collector/otlp/signals.ts';
import { getJson, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';

let meshlens: TestMeshlens;
before(async () => {
  meshlens = await startTestMeshlens();
});
after(async () => {
  await meshlens.destroy();
});

type Transport = 'grpc' | 'http/protobuf' | 'http/json';

function exporterFor(transport: Transport, gzip: boolean): PushMetricExporter {
  const compression = gzip ? ('gzip' as never) : ('none' as never);
  // The 0.223.0 exporters are typed against sdk-metrics 2.12.0; the interface is the same in 2.12.1.
  if (transport === 'grpc') return new GrpcMetricExporter({ url: `http://${meshlens.otlpGrpcAddress}`, compression }) as unknown as PushMetricExporter;
  const url = `${meshlens.otlpHttpUrl}/v1/metrics`;
  return (transport === 'http/json' ? new HttpJsonMetricExporter({ url, compression }) : new HttpProtoMetricExporter({ url, compression })) as unknown as PushMetricExporter;
}

interface MetricRow {
  name: string;
  type: string;
  unit: string;
  temporality: string;
  monotonic: number;
  attributes: Record<string, string>;
  namespace: string;
  value: number;
  count: string;
  sum: number;
  bounds: number[];
  bucket_counts: string[];
}

async function storedMetrics(service: string): Promise<MetricRow[]> {
  return meshlens.running.store.query<MetricRow>(
    `SELECT name, type, unit, temporality, monotonic, attributes, namespace, value, count, sum, bounds, bucket_counts
     FROM metrics WHERE service = '${service}' ORDER BY name, ts, toString(attributes)`,
  );
}

describe('OTLP metrics from the real SDK exporters', () => {
  for (const [transport, gzip] of [['grpc', false], ['http/protobuf', true], ['http/json', false]] as const) {
    it(`stores every data point sent over ${transport}${gzip ? ' with gzip' : ''}`, async () => {
      const service = `metrics-${transport.replace('/', '-')}`;
      const reader = new PeriodicExportingMetricReader({ exporter: exporterFor(transport, gzip), exportIntervalMillis: 3_600_000 });
      const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': service, 'k8s.namespace.name': 'shop' }), readers: [reader] });
      const meter = provider.getMeter('checkout-meter');
      const orders = meter.createCounter('orders', { unit: '{order}' });
      orders.add(3, { 'payment.method': 'card' });
      orders.add(2, { 'payment.method': 'card' });
      orders.add(1, { 'payment.method': 'cash' });
      const latency = meter.createHistogram('checkout.duration', { unit: 'ms', advice: { explicitBucketBoundaries: [10, 100] } });
      for (const ms of [5, 50, 70, 500]) latency.record(ms);
      // shutdown() collects and exports once more (cumulative points would be stored twice after a forceFlush).
      await provider.shutdown();

      const rows = await storedMetrics(service);
      assert.deepEqual(
        rows.map((r) => [r.name, r.type, r.unit, r.temporality, r.monotonic, { ...r.attributes }, r.value]),
        [
          ['checkout.duration', 'histogram', 'ms', 'cumulative', 1, {}, 0],
          ['orders', 'sum', '{order}', 'cumulative', 1, { 'payment.method': 'card' }, 5],
          ['orders', 'sum', '{order}', 'cumulative', 1, { 'payment.method': 'cash' }, 1],
        ],
      );
      const histogram = rows[0]!;
      assert.deepEqual(histogram.bounds, [10, 100]);
      assert.deepEqual(histogram.bucket_counts, ['1', '2', '1']);
      assert.equal(histogram.count, '4');
      assert.equal(histogram.sum, 625);
      assert.equal(histogram.namespace, 'shop');
    });
  }
});

// ---- proxy cluster stats → edges ----

const now = Date.now();
const nanos = (ms: number) => String(BigInt(ms) * 1_000_000n);
const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
const START = nanos(now - 600_000);

/** Kuma's MeshMetric OpenTelemetry backend: kuma-dp pushes Envoy's stats, cumulative, as Prometheus names them. */
function kumaExport(at: number, v: { ok: number; failed: number; buckets: number[] }): object {
  const backend = str('envoy_cluster_name', 'backend_kuma-demo_svc_3001');
  const point = (attributes: unknown[], asInt: number) => ({ attributes, startTimeUnixNano: START, timeUnixNano: nanos(at), asInt: String(asInt) });
  const sum = (name: string, dataPoints: unknown[]) => ({ name, sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints } });
  return {
    resourceMetrics: [
      {
        resource: { attributes: [str('service.name', 'kuma-dp'), str('kuma.io/service', 'frontend_kuma-demo_svc_8080')] },
        scopeMetrics: [
          {
            scope: { name: 'kuma-dp' },
            metrics: [
              sum('envoy_cluster_upstream_rq', [point([backend, str('envoy_response_code', '200')], v.ok), point([backend, str('envoy_response_code', '503')], v.failed)]),
              // The same responses by class, and the requests in total: not counted again.
              sum('envoy_cluster_upstream_rq_xx', [point([backend, str('envoy_response_code_class', '2')], v.ok), point([backend, str('envoy_response_code_class', '5')], v.failed)]),
              sum('envoy_cluster_upstream_rq_total', [point([backend], v.ok + v.failed)]),
              // A gauge is no traffic.
              { name: 'envoy_cluster_upstream_cx_active', gauge: { dataPoints: [point([backend], 4)] } },
              {
                name: 'envoy_cluster_upstream_rq_time',
                unit: 'ms',
                histogram: {
                  aggregationTemporality: 2,
                  dataPoints: [
                    {
                      attributes: [backend], startTimeUnixNano: START, timeUnixNano: nanos(at),
                      count: String(v.buckets.reduce((a, b) => a + b, 0)), sum: 1000, explicitBounds: [5, 10, 25, 50], bucketCounts: v.buckets.map(String),
                    },
                  ],
                },
              },
            ],
          },
        ],
      },
    ],
  };
}

/** Envoy's OpenTelemetry stat sink with report_counters_as_deltas: tag-extracted names, dotted tags. */
function envoyDeltaExport(at: number): object {
  const ratings = str('envoy.cluster_name', 'ratings_bookinfo_svc_9080');
  return {
    resourceMetrics: [
      {
        resource: { attributes: [str('service.name', 'reviews'), str('k8s.namespace.name', 'bookinfo')] },
        scopeMetrics: [
          {
            metrics: [
              {
                name: 'cluster.upstream_rq_xx',
                sum: {
                  aggregationTemporality: 1,
                  isMonotonic: true,
                  dataPoints: [
                    { attributes: [ratings, str('envoy.response_code_class', '2')], timeUnixNano: nanos(at), asInt: '4' },
                    { attributes: [ratings, str('envoy.response_code_class', '5')], timeUnixNano: nanos(at), asInt: '1' },
                  ],
                },
              },
            ],
          },
        ],
      },
    ],
  };
}

async function postJson(path: string, body: object): Promise<Response> {
  return fetch(`${meshlens.otlpHttpUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

interface GraphEdge {
  id: string;
  protocol: string;
  requests: number;
  errors: number;
  p50Ms: number;
  signals: string[];
}

async function graphEdges(): Promise<GraphEdge[]> {
  await meshlens.running.collector!.edges.flush();
  const { status, body } = await getJson<{ edges: GraphEdge[] }>(
    `${meshlens.queryUrl}/api/v1/service-graph?signal=otlp-metrics&start=${now - 3_600_000}&end=${now + 3_600_000}`,
  );
  assert.equal(status, 200);
  return body.edges;
}

describe('proxy metrics become otlp-metrics edges', () => {
  it('takes the first cumulative export as a baseline and counts the increase of the second; deltas as they are', async () => {
    assert.equal((await postJson('/v1/metrics', kumaExport(now - 60_000, { ok: 100, failed: 5, buckets: [10, 50, 40, 5, 0] }))).status, 200);
    assert.equal((await postJson('/v1/metrics', envoyDeltaExport(now - 60_000))).status, 200);
    const afterBaseline = await graphEdges();
    assert.deepEqual(afterBaseline.map((e) => [e.id, e.requests, e.errors]), [['bookinfo/reviews->bookinfo/ratings', 5, 1]]);

    assert.equal((await postJson('/v1/metrics', kumaExport(now - 30_000, { ok: 130, failed: 7, buckets: [12, 60, 50, 10, 5] }))).status, 200);
    assert.equal((await postJson('/v1/metrics', envoyDeltaExport(now - 30_000))).status, 200);
    const edges = await graphEdges();
    const summary = Object.fromEntries(edges.map((e) => [e.id, [e.protocol, e.requests, e.errors]]));
    assert.deepEqual(summary, {
      'kuma-demo/frontend->kuma-demo/backend': ['http', 32, 2],
      'bookinfo/reviews->bookinfo/ratings': ['http', 10, 2],
    });
    // The latency increase: 2 ≤ 5 ms, 10 ≤ 10, 10 ≤ 25, 5 ≤ 50, 5 above: the 16th of 32 lies in (10, 25]
    // (give or take the graph histogram's 1 % bucket width).
    const kuma = edges.find((e) => e.id === 'kuma-demo/frontend->kuma-demo/backend')!;
    assert.ok(kuma.p50Ms > 10 && kuma.p50Ms <= 25 * 1.01, `p50 ${kuma.p50Ms}`);
    for (const edge of edges) assert.deepEqual(edge.signals, ['otlp-metrics']);

    // Every point is stored, baseline included.
    const [stored] = await meshlens.running.store.query<{ n: string }>(`SELECT count() AS n FROM metrics WHERE resource_attributes['kuma.io/service'] = 'frontend_kuma-demo_svc_8080'`);
    assert.equal(Number(stored!.n), 2 * 7);
  });
});

describe('bad OTLP metrics requests', () => {
  const badPoints = {
    resourceMetrics: [
      {
        resource: { attributes: [str('service.name', 'partial-metrics')] },
        scopeMetrics: [
          {
            metrics: [
              { name: 'no.time', gauge: { dataPoints: [{ asDouble: 1 }] } },
              { name: 'kept', gauge: { dataPoints: [{ timeUnixNano: nanos(now), asDouble: 2.5 }] } },
              { name: 'skewed', histogram: { aggregationTemporality: 2, dataPoints: [{ timeUnixNano: nanos(now), count: '3', explicitBounds: [1, 2], bucketCounts: ['3'] }] } },
            ],
          },
        ],
      },
    ],
  };

  it('reports malformed data points as partial success over JSON, storing the rest', async () => {
    const response = await postJson('/v1/metrics', badPoints);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { partialSuccess: { rejectedDataPoints: '2', errorMessage: 'a data point of "no.time" has no time_unix_nano' } });
    const rows = await storedMetrics('partial-metrics');
    assert.deepEqual(rows.map((r) => [r.name, r.value]), [['kept', 2.5]]);
  });

  it('answers a protobuf request with a protobuf partial success', async () => {
    const message = MetricsRequest.fromObject({
      resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'skewed', histogram: { dataPoints: [{ timeUnixNano: nanos(now), count: 3, explicitBounds: [1, 2], bucketCounts: [3] }] } }] }] }],
    });
    const response = await fetch(`${meshlens.otlpHttpUrl}/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: MetricsRequest.encode(message).finish(),
    });
    assert.equal(response.status, 200);
    assert.deepEqual(decodeResponseProto('metrics', new Uint8Array(await response.arrayBuffer())), {
      partialSuccess: { rejectedDataPoints: 1, errorMessage: 'a data point of "skewed" has 1 bucket counts for 2 explicit bounds (must be bounds + 1)' },
    });
  });

  it('refuses a truncated protobuf body and bad JSON with 400', async () => {
    const truncated = await fetch(`${meshlens.otlpHttpUrl}/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: Buffer.from([0x0a, 0x40, 0x12, 0x05]),
    });
    assert.equal(truncated.status, 400);
    const bad = await fetch(`${meshlens.otlpHttpUrl}/v1/metrics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'not json' });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { message: string }).message, /^invalid OTLP\/JSON/);
  });
});
