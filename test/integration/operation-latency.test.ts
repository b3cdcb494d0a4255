// Latency by operation: spans sent by the real OpenTelemetry SDK (OTLP HTTP/protobuf) with chosen
// durations, statuses and sampling rates come back from /api/v1/latency, /latency/heatmap, /red with
// `service` + `operation`, and from /api/v1/operations, with exact counts and errors and percentiles
// within the histogram's 1 %. Only what a service served (SERVER, CONSUMER spans) counts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { LatencySummary } from '../../collector/service-graph/histogram.ts';
import type { OperationSummary } from '../../query/latency.ts';
import { getJson, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';

let meshlens: TestMeshlens;
before(async () => {
  meshlens = await startTestMeshlens({ overrides: { 'graph.wait': '1s', 'graph.flush_interval': '300ms' } });
});
after(async () => {
  await meshlens.destroy();
});

// Every span starts within one minute (5 s into the minute two minutes ago), so one per-minute slot
// holds them all and its percentiles are the exact ones below.
const minuteMs = Math.floor(Date.now() / 60_000) * 60_000 - 120_000;
const firstSpanMs = minuteMs + 5_000;
const window = `start=${minuteMs - 300_000}&end=${minuteMs + 300_000}`;
const WINDOW_SECONDS = 600;

interface SpanToSend {
  name: string;
  kind: SpanKind;
  durationMs: number;
  attributes?: Attributes;
  error?: boolean;
}

async function send(service: string, spans: readonly SpanToSend[]): Promise<void> {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'k8s.namespace.name': 'shop' }),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${meshlens.otlpHttpUrl}/v1/traces` }) })],
  });
  const tracer = provider.getTracer('operation-latency-test');
  spans.forEach((s, i) => {
    // 50 ms apart: the last of 110 spans starts 5.5 s after the first, still in the same minute.
    const startMs = firstSpanMs + i * 50;
    const span = tracer.startSpan(s.name, { kind: s.kind, startTime: startMs, ...(s.attributes ? { attributes: s.attributes } : {}) });
    if (s.error) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end(startMs + s.durationMs);
  });
  await provider.forceFlush();
  await provider.shutdown();
}

/** GET /cart: 1, 2, …, 100 ms; every tenth a 500 (10 errors); the 5 ms one a 404 marked ERROR, which is no server error. */
const cartRequests: SpanToSend[] = Array.from({ length: 100 }, (_, i) => {
  const durationMs = i + 1;
  const status = durationMs % 10 === 0 ? 500 : durationMs === 5 ? 404 : 200;
  return { name: 'GET /cart', kind: SpanKind.SERVER, durationMs, attributes: { 'http.response.status_code': status }, error: status !== 200 };
});

const withinOnePercent = (actual: number | null, exact: number, label: string) =>
  assert.ok(actual !== null && Math.abs(actual - exact) <= exact * 0.01, `${label}: ${actual} is not within 1 % of ${exact}`);

async function operationsOf(service: string, query = ''): Promise<OperationSummary[]> {
  const response = await getJson<{ operations: OperationSummary[] }>(`${meshlens.queryUrl}/api/v1/operations?${window}&service=${encodeURIComponent(service)}${query}`);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body.operations;
}

describe('latency by operation', () => {
  before(async () => {
    await send('checkout', [
      ...cartRequests,
      // Sampled 1 in 5: four spans stand for twenty requests; one failed with gRPC UNAVAILABLE.
      ...[14, 0, 0, 0].map((code): SpanToSend => ({ name: 'POST /checkout', kind: SpanKind.SERVER, durationMs: 200, attributes: { SampleRate: 5, 'rpc.system': 'grpc', 'rpc.grpc.status_code': code } })),
      { name: 'orders process', kind: SpanKind.CONSUMER, durationMs: 30 },
      { name: 'orders process', kind: SpanKind.CONSUMER, durationMs: 30 },
      // What checkout called, and a step inside a request: not what it served, so not counted,
      // although they carry an operation's name (they would add 1 s latencies to GET /cart).
      { name: 'GET /cart', kind: SpanKind.CLIENT, durationMs: 1000, attributes: { 'server.address': 'cart' } },
      { name: 'GET /cart', kind: SpanKind.INTERNAL, durationMs: 1000 },
      { name: 'orders publish', kind: SpanKind.PRODUCER, durationMs: 1000, attributes: { 'messaging.system': 'kafka' } },
    ]);
    // Another service with an operation of the same name.
    await send('cart', [1, 2, 3].map((): SpanToSend => ({ name: 'GET /cart', kind: SpanKind.SERVER, durationMs: 7 })));
    // Rows are written every flush interval: wait until every served span is in.
    for (let i = 0; i < 80; i++) {
      const served = async (service: string) => (await operationsOf(service)).reduce((sum, o) => sum + o.requests, 0);
      if ((await served('checkout')) >= 122 && (await served('cart')) >= 3) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  });

  it("lists a service's operations, busiest first, with exact requests and errors", async () => {
    const operations = await operationsOf('checkout');
    const rps = (requests: number) => Math.round((requests / WINDOW_SECONDS) * 1e4) / 1e4;
    assert.deepEqual(
      operations.map(({ name, requests, errors, rps: r, errorRate }) => ({ name, requests, errors, rps: r, errorRate })),
      [
        { name: 'GET /cart', requests: 100, errors: 10, rps: rps(100), errorRate: 0.1 },
        { name: 'POST /checkout', requests: 20, errors: 5, rps: rps(20), errorRate: 0.25 },
        { name: 'orders process', requests: 2, errors: 0, rps: rps(2), errorRate: 0 },
      ],
    );
    const [cart, checkout, orders] = operations;
    withinOnePercent(cart!.p50Ms, 50, 'GET /cart p50');
    withinOnePercent(cart!.p95Ms, 95, 'GET /cart p95');
    withinOnePercent(cart!.p99Ms, 99, 'GET /cart p99');
    for (const p of [checkout!.p50Ms, checkout!.p95Ms, checkout!.p99Ms]) withinOnePercent(p, 200, 'POST /checkout');
    withinOnePercent(orders!.p99Ms, 30, 'orders process p99');

    assert.deepEqual(await operationsOf('shop/checkout'), operations, 'the node id selects the same service as its name');
    assert.deepEqual((await operationsOf('checkout', '&limit=1')).map((o) => o.name), ['GET /cart']);
    assert.deepEqual((await operationsOf('cart')).map((o) => [o.name, o.requests]), [['GET /cart', 3]]);
    assert.deepEqual(await operationsOf('nobody'), []);
  });

  it("serves one operation's latency histogram", async () => {
    const url = `${meshlens.queryUrl}/api/v1/latency?${window}&service=checkout&operation=${encodeURIComponent('GET /cart')}`;
    const latency = (await getJson<LatencySummary>(url)).body;
    assert.equal(latency.count, 100);
    withinOnePercent(latency.p50Ms, 50, 'p50');
    withinOnePercent(latency.p90Ms, 90, 'p90');
    withinOnePercent(latency.p95Ms, 95, 'p95');
    withinOnePercent(latency.p99Ms, 99, 'p99');
    // 1 | 2 | 3-5 | 6-10 | 11-20 | 21-50 | 51-100 ms, nothing slower: the 1 s CLIENT and INTERNAL spans are not in.
    const nonEmpty = latency.buckets.filter((b) => b.count > 0).map((b) => [b.leMs, b.count]);
    assert.deepEqual(nonEmpty, [[1, 1], [2, 1], [5, 3], [10, 5], [20, 10], [50, 30], [100, 50]]);
    assert.equal(latency.buckets.at(-1)!.leMs, null);

    const byId = (await getJson<LatencySummary>(url.replace('service=checkout', 'service=shop/checkout'))).body;
    assert.deepEqual(byId, latency);
    const other = (await getJson<LatencySummary>(url.replace('service=checkout', 'service=cart'))).body;
    assert.equal(other.count, 3);
    withinOnePercent(other.p50Ms, 7, 'cart GET /cart p50');
    const none = (await getJson<LatencySummary>(url.replace('GET%20%2Fcart', 'DELETE%20%2Fcart'))).body;
    assert.deepEqual([none.count, none.p50Ms], [0, null]);
  });

  it("serves one operation's heatmap and RED per minute", async () => {
    const selector = `${window}&service=checkout&operation=${encodeURIComponent('GET /cart')}&step=1m`;
    const heatmap = (await getJson<{ times: number[]; bucketsLeMs: Array<number | null>; counts: number[][] }>(`${meshlens.queryUrl}/api/v1/latency/heatmap?${selector}`)).body;
    assert.equal(heatmap.times.length, 10);
    const slot = heatmap.times.indexOf(minuteMs);
    assert.ok(slot >= 0, 'a slot starts at the spans’ minute');
    heatmap.counts.forEach((counts, i) => assert.equal(counts.reduce((a, b) => a + b, 0), i === slot ? 100 : 0));
    assert.deepEqual(
      heatmap.counts[slot]!.map((count, i) => [heatmap.bucketsLeMs[i], count]).filter(([, count]) => count! > 0),
      [[1, 1], [2, 1], [5, 3], [10, 5], [20, 10], [50, 30], [100, 50]],
    );

    const red = (await getJson<{ times: number[]; step: number; requests: number[]; errors: number[]; rps: number[]; p50Ms: Array<number | null>; p95Ms: Array<number | null>; p99Ms: Array<number | null> }>(`${meshlens.queryUrl}/api/v1/red?${selector}`)).body;
    assert.equal(red.step, 60);
    assert.deepEqual(red.times, heatmap.times);
    assert.deepEqual(red.requests, red.times.map((t) => (t === minuteMs ? 100 : 0)));
    assert.deepEqual(red.errors, red.times.map((t) => (t === minuteMs ? 10 : 0)));
    assert.equal(red.rps[slot], Math.round((100 / 60) * 1e4) / 1e4);
    withinOnePercent(red.p50Ms[slot]!, 50, 'RED p50');
    withinOnePercent(red.p95Ms[slot]!, 95, 'RED p95');
    withinOnePercent(red.p99Ms[slot]!, 99, 'RED p99');
    assert.equal(red.p99Ms.filter((p) => p !== null).length, 1, 'empty minutes have no percentiles');

    const sampled = (await getJson<{ requests: number[]; errors: number[] }>(`${meshlens.queryUrl}/api/v1/red?${window}&service=checkout&operation=${encodeURIComponent('POST /checkout')}&step=1m`)).body;
    assert.deepEqual([sampled.requests.reduce((a, b) => a + b, 0), sampled.errors.reduce((a, b) => a + b, 0)], [20, 5], 'weighted by the sampling rate');
  });

  it("agrees with the service's own latency, which comes from the edges it served", async () => {
    let served: LatencySummary = { count: 0, p50Ms: null, p90Ms: null, p95Ms: null, p99Ms: null, buckets: [] };
    // Edges wait for graph.wait before they are paired and written.
    for (let i = 0; i < 40 && served.count < 122; i++) {
      served = (await getJson<LatencySummary>(`${meshlens.queryUrl}/api/v1/latency?${window}&service=checkout`)).body;
      if (served.count < 122) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const operations = await operationsOf('checkout');
    assert.equal(served.count, operations.reduce((sum, o) => sum + o.requests, 0));
  });

  it('refuses an operation without its service, and a malformed operations query', async () => {
    const alone = await getJson<{ error: string }>(`${meshlens.queryUrl}/api/v1/latency?${window}&operation=GET%20%2Fcart`);
    assert.equal(alone.status, 400);
    assert.match(alone.body.error, /operation needs service/);
    const onEdge = await getJson<{ error: string }>(`${meshlens.queryUrl}/api/v1/red?${window}&source=shop/frontend&target=shop/checkout&operation=GET%20%2Fcart`);
    assert.equal(onEdge.status, 400);
    assert.match(onEdge.body.error, /operation needs service/);
    const both = await getJson<{ error: string }>(`${meshlens.queryUrl}/api/v1/latency/heatmap?${window}&service=checkout&source=shop/frontend&operation=GET%20%2Fcart`);
    assert.equal(both.status, 400);
    assert.match(both.body.error, /select either service \(\+ operation\), or source and target/);

    const noService = await getJson<{ error: string }>(`${meshlens.queryUrl}/api/v1/operations?${window}`);
    assert.equal(noService.status, 400);
    assert.match(noService.body.error, /service/);
    const badLimit = await getJson<{ error: string }>(`${meshlens.queryUrl}/api/v1/operations?${window}&service=checkout&limit=0`);
    assert.equal(badLimit.status, 400);
    const backwards = await getJson<{ error: string }>(`${meshlens.queryUrl}/api/v1/operations?start=${minuteMs}&end=${minuteMs - 60_000}&service=checkout`);
    assert.equal(backwards.status, 400);
    assert.match(backwards.body.error, /start must be before end/);
  });
});
