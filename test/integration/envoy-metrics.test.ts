// Envoy's metrics service end to end: real grpc-js client streams built from Envoy's own protos
// (@grpc/grpc-js-xds deps/ plus our io/prometheus/client/metrics.proto, loaded here independently of the
// receiver) send what an Istio sidecar's envoy.stat_sinks.metrics_service sends — the identifier first,
// then one message per stats flush with cumulative counters and per-flush histograms — and the service
// graph and latency APIs answer with signal=envoy-metrics. Then a proxy restart (a counter reset) and
// broken streams.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { GraphEdge } from '../../query/service-graph.ts';
import { type Workload, productpage, reviews, sidecarNode } from '../helpers/envoy-als.ts';
import { type EnvoyStreamClient, envoyStreamClient } from '../helpers/envoy-client.ts';
import { getJson, graphEdgesUntil, ownMetric, startTestMeshlens, totalRequests, type TestMeshlens } from '../helpers/meshlens.ts';
import { istioLabels } from '../helpers/mesh-series.ts';

let meshlens: TestMeshlens;
let client: EnvoyStreamClient;
before(async () => {
  meshlens = await startTestMeshlens({ overrides: { 'graph.flush_interval': '300ms' } });
  client = envoyStreamClient(meshlens.otlpGrpcAddress, 'envoy/service/metrics/v3/metrics_service.proto', 'envoy.service.metrics.v3.MetricsService', 'StreamMetrics', [fileURLToPath(new URL('../../collector/envoy/proto', import.meta.url))]);
});
after(async () => {
  client.close();
  await meshlens.destroy();
});

const stream = (messages: object[]) => client.stream(messages);
const rawStream = (messages: Buffer[]) => client.rawStream(messages);
const encode = (message: object) => client.encode(message);

// ---- Stats as Envoy's metrics-service sink writes them: one family per stat, the full dotted name. ----

const now = Date.now();
const counter = (name: string, value: number) => ({ name, type: 'COUNTER', metric: [{ counter: { value }, timestamp_ms: now }] });
const gauge = (name: string, value: number) => ({ name, type: 'GAUGE', metric: [{ gauge: { value }, timestamp_ms: now }] });
/** Envoy's default bounds (ms); the sink sends only the finite ones, with the flush interval's counts. */
const BOUNDS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
function histogram(name: string, perBound: Record<number, number>, sum: number) {
  let cumulative = 0;
  const bucket = BOUNDS.map((bound) => ({ upper_bound: bound, cumulative_count: (cumulative += perBound[bound] ?? 0) }));
  const summary = { name, type: 'SUMMARY', metric: [{ summary: { sample_count: cumulative, sample_sum: sum, quantile: [{ quantile: 0.5, value: 7 }] }, timestamp_ms: now }] };
  return [summary, { name, type: 'HISTOGRAM', metric: [{ histogram: { sample_count: cumulative, sample_sum: sum, bucket }, timestamp_ms: now }] }];
}

const REVIEWS = 'cluster.outbound|9080||reviews.bookinfo.svc.cluster.local;';
const DETAILS = 'cluster.outbound|9080||details.bookinfo.svc.cluster.local;';

/** What productpage's sidecar reports: the upstream stats of reviews and details among others. */
function productpageFlush(s: { r200: number; r503: number; r504?: number; d200: number; rqTime: Record<number, number> }) {
  const r5xx = s.r503 + (s.r504 ?? 0);
  return [
    gauge('server.uptime', 3600),
    counter('http.inbound_0.0.0.0_9080.downstream_rq_2xx', 9000),
    counter('cluster.inbound|9080||;.upstream_rq_200', 9000),
    counter('cluster.xds-grpc.upstream_rq_200', 12),
    counter(`${REVIEWS}.upstream_rq_200`, s.r200),
    counter(`${REVIEWS}.upstream_rq_503`, s.r503),
    ...(s.r504 === undefined ? [] : [counter(`${REVIEWS}.upstream_rq_504`, s.r504)]),
    counter(`${REVIEWS}.upstream_rq_2xx`, s.r200),
    counter(`${REVIEWS}.upstream_rq_5xx`, r5xx),
    counter(`${REVIEWS}.upstream_rq_total`, s.r200 + r5xx),
    counter(`${REVIEWS}.internal.upstream_rq_200`, s.r200),
    counter(`${REVIEWS}.upstream_rq_retry`, 4),
    ...histogram(`${REVIEWS}.upstream_rq_time`, s.rqTime, 900),
    counter(`${DETAILS}.upstream_rq_200`, s.d200),
    counter(`${DETAILS}.upstream_rq_2xx`, s.d200),
    counter(`${DETAILS}.upstream_rq_total`, s.d200),
  ];
}

const graph = (namespace: string, until: (edges: GraphEdge[]) => boolean) => graphEdgesUntil(meshlens.queryUrl, 'envoy-metrics', namespace, until);
const metric = (name: string) => ownMetric(meshlens.queryUrl, name);

/** A metric without labels. */
async function metricValue(name: string): Promise<number | undefined> {
  const line = (await (await fetch(`${meshlens.queryUrl}/metrics`)).text()).split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}


describe('Envoy metrics service (StreamMetrics on 4317)', () => {
  it('counts only what the counters grew by between flushes: the first flush is a baseline', async () => {
    await stream([
      // Lifetime totals so far: not traffic of this window. The histogram's 50 calls have no count yet.
      { identifier: { node: sidecarNode(productpage) }, envoy_metrics: productpageFlush({ r200: 1000, r503: 40, d200: 500, rqTime: { 5: 20, 10: 30 } }) },
      // 5 s later: reviews +90 200s, +10 503s, and a first 504 ×3 (a counter first used since the last
      // flush counts whole); details +30. The flush's 103 calls to reviews took 5 to 50 ms.
      { envoy_metrics: productpageFlush({ r200: 1090, r503: 50, r504: 3, d200: 530, rqTime: { 5: 20, 10: 40, 25: 35, 50: 8 } }) },
    ]);
    const edges = await graph('bookinfo', (e) => e.length === 2 && totalRequests(e) === 133);
    assert.deepEqual(
      edges.map((e) => ({ id: e.id, protocol: e.protocol, requests: e.requests, errors: e.errors, mtls: e.mtls, signals: e.signals })),
      [
        { id: 'bookinfo/productpage@v1->bookinfo/details', protocol: 'http', requests: 30, errors: 0, mtls: null, signals: ['envoy-metrics'] },
        { id: 'bookinfo/productpage@v1->bookinfo/reviews', protocol: 'http', requests: 103, errors: 13, mtls: null, signals: ['envoy-metrics'] },
      ],
    );
    const spans = (await getJson<{ edges: GraphEdge[] }>(`${meshlens.queryUrl}/api/v1/service-graph?signal=spans&start=${Date.now() - 600_000}`)).body.edges;
    assert.deepEqual(spans, [], 'metrics edges are kept apart from span edges');
    assert.equal(await metricValue('meshlens_envoy_metrics_flushes_total'), 2);
    // 10 upstream counters (inbound and xds-grpc clusters included: read, then no edge) are baselines in
    // flush 1; flush 2 counts those 10 and the new 504 counter (a baseline for the pipeline, counted whole).
    const stats = await metric('meshlens_envoy_metrics_upstream_stats_total');
    assert.deepEqual([stats.get('{result="baseline"}'), stats.get('{result="counted"}'), stats.get('{result="reset"}')], [11, 11, undefined]);
  });

  it('serves the latency of the counted flush from upstream_rq_time, each percentile inside its bucket', async () => {
    const latency = (
      await getJson<{ count: number; p50Ms: number; p90Ms: number; p99Ms: number }>(
        `${meshlens.queryUrl}/api/v1/latency?source=bookinfo/productpage@v1&target=bookinfo/reviews&signal=envoy-metrics&start=${Date.now() - 600_000}`,
      )
    ).body;
    assert.equal(latency.count, 103, 'the second flush\'s calls only');
    // Cumulative: ≤5 ms 20, ≤10 ms 60, ≤25 ms 95, ≤50 ms 103.
    for (const [name, actual, lower, upper] of [['p50', latency.p50Ms, 5, 10], ['p90', latency.p90Ms, 10, 25], ['p99', latency.p99Ms, 25, 50]] as const) {
      assert.ok(actual > lower && actual <= upper * 1.01, `${name} ${actual} ms is not in the (${lower}, ${upper}] ms bucket`);
    }
  });

  it('a proxy that restarted and reconnects: its counters fell, so the whole new value counts', async () => {
    const v2: Workload = reviews('v2');
    const ratings = 'cluster.outbound|9080||ratings.bookinfo.svc.cluster.local;';
    // No Istio metadata: the proxy is named from its node id (pod reviews-v2-… → workload reviews-v2).
    await stream([{ identifier: { node: sidecarNode(v2, false) }, envoy_metrics: [counter(`${ratings}.upstream_rq_200`, 700), counter(`${ratings}.upstream_rq_500`, 9)] }]);
    await stream([{ identifier: { node: sidecarNode(v2, false) }, envoy_metrics: [counter(`${ratings}.upstream_rq_200`, 20), counter(`${ratings}.upstream_rq_500`, 2)] }]);
    const edges = await graph('bookinfo', (e) => e.some((x) => x.id === 'bookinfo/reviews-v2->bookinfo/ratings'));
    const edge = edges.find((e) => e.id === 'bookinfo/reviews-v2->bookinfo/ratings');
    assert.deepEqual({ requests: edge?.requests, errors: edge?.errors }, { requests: 22, errors: 2 });
    assert.equal((await metric('meshlens_envoy_metrics_upstream_stats_total')).get('{result="reset"}'), 2);
  });

  it('ends a stream with garbage mid-stream with INVALID_ARGUMENT, keeping the flushes before it', async () => {
    const caller: Workload = { ...productpage, namespace: 'edge-cases', pod: 'caller-5d8f7b6c9d-abcde', workload: 'caller', app: 'caller' };
    const callee = 'cluster.outbound|8080||callee.edge-cases.svc.cluster.local;.upstream_rq_200';
    const before = await metric('meshlens_bad_requests_total');
    const error = await rawStream([
      encode({ identifier: { node: sidecarNode(caller) }, envoy_metrics: [counter(callee, 10)] }),
      encode({ envoy_metrics: [counter(callee, 14)] }),
      // Field 1 with wire type 7: no protobuf decoder can read this.
      Buffer.from([0x0f, 0xff, 0xff, 0xff]),
      encode({ envoy_metrics: [counter(callee, 100)] }),
    ]);
    assert.equal(error?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(error!.details, /^message 3 of the stream is not a valid envoy\.service\.metrics\.v3\.StreamMetricsMessage: .*what the 2 message\(s\) before it carried was kept$/);
    const edges = await graph('edge-cases', (e) => e.length > 0);
    assert.deepEqual(edges.map((e) => [e.id, e.requests]), [['edge-cases/caller@v1->edge-cases/callee', 4]]);
    const afterward = await metric('meshlens_bad_requests_total');
    const key = '{receiver="envoy-metrics",reason="decode"}';
    assert.equal((afterward.get(key) ?? 0) - (before.get(key) ?? 0), 1);
  });

  it("reads Istio's own istio_requests_total and duration histogram on the stream (tags as labels), each call once", async () => {
    // Istio's stats with emit_tags_as_labels: the families are named as on /stats/prometheus. The caller's
    // sidecar reports source rows; the reporter rule leaves the destination rows of a meshed caller uncounted.
    const ns = 'istio-stats';
    const caller = { app: 'productpage', version: 'v1', namespace: ns };
    const callee = { app: 'reviews', version: 'v2', namespace: ns };
    const labelPairs = (labels: Record<string, string>) => Object.entries(labels).map(([name, value]) => ({ name, value }));
    const requests = (reporter: 'source' | 'destination', code: number, value: number) => ({
      name: 'istio_requests_total',
      type: 'COUNTER',
      metric: [{ label: labelPairs(istioLabels(reporter, caller, callee, { code })), counter: { value }, timestamp_ms: now }],
    });
    // Per flush (not cumulative): this flush's calls took ≤ 10 ms (6) and ≤ 50 ms (4 more); one more failed fast.
    const duration = {
      name: 'istio_request_duration_milliseconds',
      type: 'HISTOGRAM',
      metric: [{ label: labelPairs(istioLabels('source', caller, callee)), histogram: { sample_count: 11, sample_sum: 141, bucket: [{ upper_bound: 10, cumulative_count: 7 }, { upper_bound: 50, cumulative_count: 11 }] }, timestamp_ms: now }],
    };
    const node = sidecarNode({ ...productpage, namespace: ns, pod: 'productpage-v1-6b746f74dc-istio' });
    await stream([
      { identifier: { node }, envoy_metrics: [requests('source', 200, 500), requests('source', 503, 20), requests('destination', 200, 500)] },
      // A first 504 since the last flush: a series first sent mid-stream counts whole.
      { envoy_metrics: [requests('source', 200, 508), requests('source', 503, 22), requests('source', 504, 1), requests('destination', 200, 508), duration] },
    ]);
    const edges = await graph(ns, (e) => totalRequests(e) === 11);
    assert.deepEqual(
      edges.map((e) => ({ id: e.id, requests: e.requests, errors: e.errors, mtls: e.mtls, signals: e.signals })),
      [{ id: 'istio-stats/productpage@v1->istio-stats/reviews@v2', requests: 11, errors: 3, mtls: true, signals: ['envoy-metrics'] }],
    );
    const latency = (
      await getJson<{ count: number; p50Ms: number; p90Ms: number }>(
        `${meshlens.queryUrl}/api/v1/latency?source=${ns}/productpage@v1&target=${ns}/reviews@v2&signal=envoy-metrics&start=${Date.now() - 600_000}`,
      )
    ).body;
    assert.equal(latency.count, 11);
    assert.ok(latency.p50Ms > 0 && latency.p50Ms <= 10.1, `p50 ${latency.p50Ms}`);
    assert.ok(latency.p90Ms > 10 && latency.p90Ms <= 50.5, `p90 ${latency.p90Ms}`);
  });

  it('refuses a stream whose first message does not name the proxy; answers an empty stream OK', async () => {
    const error = await rawStream([encode({ envoy_metrics: [counter(`${REVIEWS}.upstream_rq_200`, 1)] })]);
    assert.equal(error?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(error!.details, /first message of a StreamMetrics stream must carry identifier\.node/);
    assert.equal(await rawStream([]), null);
  });
});
