// PrometheusEdgeConverter with hand-written series for each mesh (test/helpers/mesh-series.ts): the first
// observation is a baseline, the second gives exact increments, a restart counts the new value whole,
// Istio's double reporting is counted once, and series past the cardinality limit are dropped.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EdgeIncrement } from '../service-graph/edge-rows.ts';
import { nodeId } from '../service-graph/halves.ts';
import {
  ENVOY_BOUNDS_MS,
  bookinfo,
  histogramSamples,
  istioBookinfo,
  istioLabels,
  istioRequests,
  linkerdProductpage,
  traefikProductpage,
} from '../../test/helpers/mesh-series.ts';
import { PrometheusEdgeConverter, traefikService } from './mesh-series.ts';
import type { PromSample, SampleBatch } from './samples.ts';

const T0 = 1_764_140_400_000; // on a minute boundary
const batch = (samples: PromSample[], atMs: number, extra: Partial<SampleBatch> = {}): SampleBatch => ({ source: 'http://10.1.2.3:15090/stats/prometheus', samples, receivedAtMs: atMs, ...extra });

interface EdgeSummary {
  requests: number;
  errors: number;
  mtlsYes: number;
  mtlsNo: number;
  latencyCount: number;
  protocol: string;
}

/** Increments by edge id, summed. */
function byEdge(increments: readonly EdgeIncrement[]): Record<string, EdgeSummary> {
  const edges: Record<string, EdgeSummary> = {};
  for (const inc of increments) {
    const id = `${nodeId(inc.source)}->${nodeId(inc.target)}`;
    const edge = (edges[id] ??= { requests: 0, errors: 0, mtlsYes: 0, mtlsNo: 0, latencyCount: 0, protocol: inc.protocol });
    edge.requests += inc.requests;
    edge.errors += inc.errors;
    edge.mtlsYes += inc.mtlsYes;
    edge.mtlsNo += inc.mtlsNo;
    edge.latencyCount += inc.latency?.count ?? 0;
  }
  return Object.fromEntries(Object.entries(edges).sort(([a], [b]) => a.localeCompare(b)));
}

const edge = (requests: number, errors: number, mtlsYes: number, mtlsNo: number, latencyCount = 0): EdgeSummary => ({ requests, errors, mtlsYes, mtlsNo, latencyCount, protocol: 'http' });

function assertInBucket(name: string, actual: number | null, lower: number, upper: number): void {
  assert.ok(actual !== null && actual > lower && actual <= upper * 1.01, `${name} ${actual} ms is not in the (${lower}, ${upper}] ms bucket`);
}

describe('Istio standard metrics', () => {
  it('first observation is a baseline; the second gives each call once, mTLS from the destination rows', () => {
    const converter = new PrometheusEdgeConverter({ clock: () => T0 });
    const first = converter.convert(batch(istioBookinfo(0), T0));
    assert.deepEqual(first.increments, []);
    // 17 requests series (9 calls: 8 reported twice, the ingress once), 2 histograms, 2 byte sums.
    assert.deepEqual({ counted: first.counted, baselines: first.baselines, resets: first.resets }, { counted: 0, baselines: 17 + 1 + 2, resets: 0 });
    // The destination row's histogram (19 bounds, +Inf, _sum, _count), the TCP counter, the uptime gauge.
    assert.equal(first.skipped, 22 + 2);

    const second = converter.convert(batch(istioBookinfo(1), T0 + 15_000));
    assert.equal(second.counted, 20);
    assert.deepEqual(byEdge(second.increments), {
      'bookinfo/productpage@v1->bookinfo/details@v1': edge(60, 0, 60, 0),
      'bookinfo/productpage@v1->bookinfo/reviews@v1': edge(20, 0, 20, 0),
      'bookinfo/productpage@v1->bookinfo/reviews@v2': edge(25, 0, 25, 0, 25),
      // 10 OK + 3 × 503 + 2 × 404 (a 404 is no server error).
      'bookinfo/productpage@v1->bookinfo/reviews@v3': edge(15, 3, 15, 0),
      'bookinfo/reviews@v2->bookinfo/ratings@v1': edge(25, 0, 25, 0),
      'bookinfo/reviews@v3->bookinfo/ratings@v1': edge(12, 0, 12, 0),
      // Outside the mesh: only the server's sidecar saw it, and it was plaintext.
      'unknown->bookinfo/productpage@v1': edge(95, 0, 0, 95),
    });
    // Named by canonical service and revision (as Istio's spans are), not by workload (reviews-v2).
    const reviewsV2 = second.increments.find((i) => i.target.name === 'reviews' && i.target.version === 'v2' && i.requests > 0)!;
    assert.deepEqual(reviewsV2.source, { kind: 'service', name: 'productpage', namespace: 'bookinfo', version: 'v1' });
    assert.deepEqual(reviewsV2.target, { kind: 'service', name: 'reviews', namespace: 'bookinfo', version: 'v2' });
    assert.equal(reviewsV2.requestBytes, 2_500);
    assert.equal(reviewsV2.responseBytes, 75_000);
    // The interval: ≤5 ms 10, ≤10 ms 20, ≤25 ms 25 (cumulative).
    assertInBucket('p50', reviewsV2.latency!.quantile(0.5), 5, 10);
    assertInBucket('p99', reviewsV2.latency!.quantile(0.99), 10, 25);
    for (const inc of second.increments) assert.equal(inc.timeUnixNano, BigInt(T0 + 15_000) * 1_000_000n);
  });

  it('a restarted sidecar: its counters fell, so the whole new value counts', () => {
    const converter = new PrometheusEdgeConverter({ clock: () => T0 });
    const { productpage, details } = bookinfo;
    converter.convert(batch(istioRequests([{ source: productpage, destination: details, code: 200, total: 1000 }]), T0));
    const restarted = converter.convert(batch(istioRequests([{ source: productpage, destination: details, code: 200, total: 7 }]), T0 + 15_000));
    assert.equal(restarted.resets, 2, 'both reporters restarted');
    assert.deepEqual(byEdge(restarted.increments), { 'bookinfo/productpage@v1->bookinfo/details@v1': edge(7, 0, 7, 0) });
    const next = converter.convert(batch(istioRequests([{ source: productpage, destination: details, code: 200, total: 19 }]), T0 + 30_000));
    assert.deepEqual(byEdge(next.increments), { 'bookinfo/productpage@v1->bookinfo/details@v1': edge(12, 0, 12, 0) });
  });

  it('gRPC failures count as errors; destination rows alone (the caller is not scraped) say only mTLS', () => {
    const converter = new PrometheusEdgeConverter({ clock: () => T0 });
    const { reviewsV2, ratings } = bookinfo;
    const row = (grpcStatus: string, reporter: 'source' | 'destination', value: number): PromSample => ({
      name: 'istio_requests_total',
      labels: istioLabels(reporter, reviewsV2, ratings, { grpcStatus }),
      value,
    });
    converter.convert(batch([row('0', 'source', 100), row('14', 'source', 1), row('5', 'source', 3)], T0));
    const grpc = converter.convert(batch([row('0', 'source', 110), row('14', 'source', 4), row('5', 'source', 5)], T0 + 15_000));
    // UNAVAILABLE (14) is a server error; NOT_FOUND (5) is not.
    assert.deepEqual(byEdge(grpc.increments), { 'bookinfo/reviews@v2->bookinfo/ratings@v1': { ...edge(15, 3, 0, 0), protocol: 'grpc' } });

    const onlyServer = new PrometheusEdgeConverter({ clock: () => T0 });
    onlyServer.convert(batch([row('0', 'destination', 100)], T0));
    const mtlsOnly = onlyServer.convert(batch([row('0', 'destination', 130)], T0 + 15_000));
    assert.deepEqual(byEdge(mtlsOnly.increments), { 'bookinfo/reviews@v2->bookinfo/ratings@v1': { ...edge(0, 0, 30, 0), protocol: 'grpc' } });
  });

  it('reads istio_request_duration_seconds in seconds; waypoint rows and pass-through traffic are no edge', () => {
    const converter = new PrometheusEdgeConverter({ clock: () => T0 });
    const { productpage, details } = bookinfo;
    const labels = istioLabels('source', productpage, details);
    const waypoint = { ...istioLabels('source', productpage, details), reporter: 'waypoint' };
    const passthrough = { ...labels, destination_workload: 'unknown', destination_service_name: 'PassthroughCluster', destination_service: 'PassthroughCluster' };
    const external = { ...labels, destination_workload: 'unknown', destination_workload_namespace: 'unknown', destination_service_name: 'api.example.com', destination_service: 'api.example.com', destination_service_namespace: 'unknown' };
    const step = (n: number, perBound: Record<number, number>) => [
      { name: 'istio_requests_total', labels, value: n },
      { name: 'istio_requests_total', labels: waypoint, value: n * 2 },
      { name: 'istio_requests_total', labels: passthrough, value: n * 3 },
      { name: 'istio_requests_total', labels: external, value: n * 4 },
      ...histogramSamples('istio_request_duration_seconds', labels, [0.005, 0.01, 0.05], perBound, 1),
    ];
    converter.convert(batch(step(10, { 0.005: 10 }), T0));
    const second = converter.convert(batch(step(20, { 0.005: 10, 0.05: 10 }), T0 + 15_000));
    // Waypoint rows (×2) and pass-through traffic (×3) add nothing; an external host is a virtual peer.
    assert.deepEqual(byEdge(second.increments), {
      'bookinfo/productpage@v1->api.example.com': edge(40, 0, 0, 0),
      'bookinfo/productpage@v1->bookinfo/details@v1': edge(10, 0, 0, 0, 10),
    });
    const toDetails = second.increments.find((i) => i.target.name === 'details')!;
    // 10 calls in (10, 50] ms: the seconds were converted.
    assertInBucket('p50', toDetails.latency!.quantile(0.5), 10, 50);
    assert.equal(second.increments.find((i) => i.target.name === 'api.example.com')!.target.kind, 'virtual');
  });
});

describe('Linkerd proxy metrics', () => {
  const reporter = { workload: 'productpage-v1', namespace: 'bookinfo', mesh: 'linkerd' };

  it('outbound series give the reporting proxy → dst_* edges; inbound only for callers without identity', () => {
    const converter = new PrometheusEdgeConverter({ clock: () => T0 });
    const source = 'http://10.42.0.9:4191/metrics';
    const first = converter.convert(batch(linkerdProductpage(0), T0, { source, reporter }));
    assert.deepEqual(first.increments, []);
    const second = converter.convert(batch(linkerdProductpage(1), T0 + 10_000, { source, reporter }));
    assert.deepEqual(byEdge(second.increments), {
      'bookinfo/productpage-v1->bookinfo/details-v1': edge(40, 0, 40, 0, 40),
      'bookinfo/productpage-v1->bookinfo/reviews-v1': edge(30, 0, 30, 0),
      // response_total counts (10 OK + 4 × 500), request_total is not added on top.
      'bookinfo/productpage-v1->bookinfo/reviews-v3': edge(14, 4, 14, 0),
      'unknown->bookinfo/productpage-v1': edge(7, 0, 0, 7),
    });
    const details = second.increments.find((i) => i.target.name === 'details-v1')!;
    // ≤3 ms 10, ≤10 ms 35, ≤20 ms 40 (cumulative), _count printed before _sum.
    assertInBucket('p50', details.latency!.quantile(0.5), 5, 10);
    assertInBucket('p95', details.latency!.quantile(0.95), 10, 20);
  });

  it('without a reporter, the target labels a Prometheus server added name the proxy', () => {
    const converter = new PrometheusEdgeConverter({ clock: () => T0 });
    const target = { namespace: 'bookinfo', pod: 'productpage-v1-6b746f74dc-9stvs', job: 'linkerd-proxy', instance: '10.42.0.9:4191' };
    converter.convert(batch(linkerdProductpage(0, target), T0, { source: 'remote-write' }));
    const second = converter.convert(batch(linkerdProductpage(1, target), T0 + 10_000, { source: 'remote-write' }));
    assert.deepEqual(Object.keys(byEdge(second.increments)), [
      'bookinfo/productpage-v1->bookinfo/details-v1',
      'bookinfo/productpage-v1->bookinfo/reviews-v1',
      'bookinfo/productpage-v1->bookinfo/reviews-v3',
      'unknown->bookinfo/productpage-v1',
    ]);
  });
});

describe('Traefik service metrics', () => {
  it('name only the destination: unknown → the service, errors from code, latency in seconds', () => {
    const converter = new PrometheusEdgeConverter({ clock: () => T0 });
    converter.convert(batch(traefikProductpage(0), T0, { source: 'http://10.42.0.3:8080/metrics' }));
    const second = converter.convert(batch(traefikProductpage(1), T0 + 15_000, { source: 'http://10.42.0.3:8080/metrics' }));
    assert.deepEqual(byEdge(second.increments), { 'unknown->bookinfo/productpage': edge(52, 2, 0, 0, 50) });
    const inc = second.increments[0]!;
    assert.equal(inc.source.kind, 'unknown');
    // 30 ≤ 0.1 s, 20 more ≤ 0.3 s.
    assertInBucket('p50', inc.latency!.quantile(0.5), 0, 100);
    assertInBucket('p90', inc.latency!.quantile(0.9), 100, 300);
  });

  it('reads Traefik service names', () => {
    assert.deepEqual(traefikService('bookinfo-reviews-9080@kubernetes'), { kind: 'service', name: 'reviews', namespace: 'bookinfo' });
    assert.deepEqual(traefikService('bookinfo-reviews-9080-traffic-split@kubernetescrd'), { kind: 'service', name: 'reviews', namespace: 'bookinfo' });
    assert.deepEqual(traefikService('whoami@docker'), { kind: 'service', name: 'whoami', namespace: '' });
    assert.equal(traefikService('api@internal'), null);
  });
});

describe('Envoy cluster stats (Kuma, Consul, App Mesh)', () => {
  it('envoy_cluster_upstream_rq* from a Kuma data plane: its service → the cluster', () => {
    const converter = new PrometheusEdgeConverter({ clock: () => T0 });
    const reporter = { 'kuma.io/service': 'productpage_bookinfo_svc_9080', mesh: 'kuma' };
    const rq = (cluster: string, code: string, value: number): PromSample => ({
      name: 'envoy_cluster_upstream_rq',
      labels: { envoy_cluster_name: cluster, envoy_response_code: code },
      value,
    });
    const series = (n: number, slow: number) => [
      rq('reviews_bookinfo_svc_9080', '200', 100 + n * 9),
      rq('reviews_bookinfo_svc_9080', '503', 2 + n),
      { name: 'envoy_cluster_upstream_rq_total', labels: { envoy_cluster_name: 'reviews_bookinfo_svc_9080' }, value: 102 + n * 10 },
      rq('localhost:9080', '200', 900 + n * 10),
      ...histogramSamples('envoy_cluster_upstream_rq_time', { envoy_cluster_name: 'reviews_bookinfo_svc_9080' }, ENVOY_BOUNDS_MS, { 10: 100, 50: slow }, 1000),
      { name: 'envoy_cluster_upstream_cx_active', labels: { envoy_cluster_name: 'reviews_bookinfo_svc_9080' }, value: 3 },
    ];
    converter.convert(batch(series(0, 2), T0, { source: 'http://10.42.0.9:5670/metrics', reporter }));
    const second = converter.convert(batch(series(5, 7), T0 + 15_000, { source: 'http://10.42.0.9:5670/metrics', reporter }));
    // Per-code counts: 45 OK + 5 × 503; the inbound (localhost:) cluster is no edge.
    assert.deepEqual(byEdge(second.increments), { 'bookinfo/productpage->bookinfo/reviews': edge(50, 5, 0, 0, 5) });
  });
});

describe('remote-write specifics', () => {
  it('two HA Prometheus replicas sending the same series count it once (older samples are ignored)', () => {
    const converter = new PrometheusEdgeConverter({ clock: () => T0 });
    const { productpage, details } = bookinfo;
    const labels = { ...istioLabels('source', productpage, details), job: 'kubernetes-pods', instance: '10.42.0.9:15020' };
    const sample = (value: number, timestampMs: number): PromSample => ({ name: 'istio_requests_total', labels, value, timestampMs });
    const rw = (samples: PromSample[]) => batch(samples, T0 + 60_000, { source: 'remote-write' });
    converter.convert(rw([sample(100, T0)])); // replica A
    converter.convert(rw([sample(100, T0 + 200)])); // replica B, the same scrape target a little later
    const a = converter.convert(rw([sample(130, T0 + 15_000)]));
    const late = converter.convert(rw([sample(129, T0 + 14_900)])); // B's older sample arrives after A's
    const b = converter.convert(rw([sample(131, T0 + 15_200)]));
    const requests = [a, late, b].flatMap((r) => r.increments).reduce((sum, i) => sum + i.requests, 0);
    assert.equal(requests, 31);
    assert.equal(late.resets, 0, 'an older sample is not a restart');
  });

  it('a series that says it started after meshlens did (startMs) counts whole on first sight', () => {
    const converter = new PrometheusEdgeConverter({ clock: () => T0, startedAtMs: T0 });
    const { productpage, details, ratings } = bookinfo;
    const fresh: PromSample = { name: 'istio_requests_total', labels: istioLabels('source', productpage, details), value: 4, startMs: T0 + 1_000 };
    const old: PromSample = { name: 'istio_requests_total', labels: istioLabels('source', productpage, ratings), value: 900, startMs: T0 - 3_600_000 };
    const first = converter.convert(batch([fresh, old], T0 + 5_000));
    assert.deepEqual(byEdge(first.increments), { 'bookinfo/productpage@v1->bookinfo/details@v1': edge(4, 0, 0, 0) });
  });

  it('groups a histogram whose labels come in another order per line; equal values under other names stay apart', () => {
    const converter = new PrometheusEdgeConverter({ clock: () => T0 });
    const { productpage, details } = bookinfo;
    const labels = istioLabels('source', productpage, details);
    const reversed = Object.fromEntries(Object.entries(labels).reverse());
    const flat = (perBound: Record<number, number>, total: number) => {
      const samples = histogramSamples('istio_request_duration_milliseconds', labels, [10, 50], perBound, 100);
      // Half of the lines print the labels the other way round.
      return [...samples.map((s, i) => (i % 2 === 0 ? s : { ...s, labels: { ...(s.labels.le === undefined ? {} : { le: s.labels.le }), ...reversed } })), { name: 'istio_requests_total', labels, value: total }];
    };
    const first = converter.convert(batch(flat({ 10: 5 }, 5), T0));
    assert.equal(first.baselines, 2, 'one histogram, one counter');
    const second = converter.convert(batch(flat({ 10: 7, 50: 3 }, 10), T0 + 15_000));
    assert.deepEqual(byEdge(second.increments), { 'bookinfo/productpage@v1->bookinfo/details@v1': edge(5, 0, 0, 0, 5) });

    // Two series whose label values are the same but under other names: two histograms, not one.
    const other = new PrometheusEdgeConverter({ clock: () => T0 });
    const a = { ...labels, x: 'one', y: 'two' };
    const b = { ...labels, y: 'one', x: 'two' };
    const both = [...histogramSamples('istio_request_duration_milliseconds', a, [10], { 10: 1 }, 1), ...histogramSamples('istio_request_duration_milliseconds', b, [10], { 10: 2 }, 2)];
    assert.equal(other.convert(batch(both, T0)).baselines, 2);
  });
});

describe('labels objects handed out again (labelsReused)', () => {
  /** `samples` with the labels objects of `like` (the same series, as a scrape's SeriesTexts gives them). */
  const sameObjects = (samples: PromSample[], like: PromSample[]): PromSample[] => samples.map((s, i) => ({ ...s, labels: like[i]!.labels }));

  it('gives what fresh objects give, for every mesh, over baseline, increase and restart; a new reporter is read anew', () => {
    const pages = [
      (step: 0 | 1) => [...istioBookinfo(step), ...traefikProductpage(step)],
      (step: 0 | 1) => linkerdProductpage(step),
    ];
    for (const pageAt of pages) {
      const reused = new PrometheusEdgeConverter({ clock: () => T0 });
      const fresh = new PrometheusEdgeConverter({ clock: () => T0 });
      const objects = pageAt(0);
      const steps: Array<[PromSample[], number, Record<string, string>]> = [
        [objects, T0, { workload: 'productpage-v1', namespace: 'bookinfo' }],
        [sameObjects(pageAt(1), objects), T0 + 15_000, { workload: 'productpage-v1', namespace: 'bookinfo' }],
        // The target's labels changed (another object): Linkerd's edges now start at the new workload.
        [sameObjects(pageAt(1).map((s) => ({ ...s, value: s.value * 2 })), objects), T0 + 30_000, { workload: 'renamed', namespace: 'bookinfo' }],
        // A restart: every counter back near 0.
        [sameObjects(pageAt(1).map((s) => ({ ...s, value: s.value > 5 ? 1 : s.value })), objects), T0 + 45_000, { workload: 'renamed', namespace: 'bookinfo' }],
      ];
      for (const [samples, atMs, reporter] of steps) {
        const a = reused.convert(batch(samples, atMs, { reporter, labelsReused: true }));
        const b = fresh.convert(batch(samples.map((s) => ({ ...s, labels: { ...s.labels } })), atMs, { reporter }));
        assert.deepEqual(byEdge(a.increments), byEdge(b.increments));
        assert.deepEqual({ ...a, increments: [] }, { ...b, increments: [] });
      }
    }
  });

  it('one labels object under two names (a _sum and a _count) is read as each', () => {
    const { productpage, details } = bookinfo;
    const reused = new PrometheusEdgeConverter({ clock: () => T0 });
    const labels = istioLabels('source', productpage, details);
    const page = (count: number) => [
      { name: 'istio_request_duration_milliseconds_bucket', labels: { ...labels, le: '10' }, value: count },
      { name: 'istio_request_duration_milliseconds_bucket', labels: { ...labels, le: '+Inf' }, value: count },
      { name: 'istio_request_duration_milliseconds_sum', labels, value: count * 5 },
      { name: 'istio_request_duration_milliseconds_count', labels, value: count },
      { name: 'istio_requests_total', labels: istioLabels('source', productpage, details), value: count },
    ];
    const first = page(10);
    reused.convert(batch(first, T0, { labelsReused: true }));
    const second = reused.convert(batch(sameObjects(page(14), first), T0 + 15_000, { labelsReused: true }));
    assert.deepEqual(byEdge(second.increments), { 'bookinfo/productpage@v1->bookinfo/details@v1': edge(4, 0, 0, 0, 4) });
  });
});

describe('label cardinality', () => {
  it('past maxSeries new series are dropped and counted; tracked series go on', () => {
    const converter = new PrometheusEdgeConverter({ clock: () => T0, maxSeries: 3 });
    const { productpage, details } = bookinfo;
    const series = (total: number, paths: number) =>
      Array.from({ length: paths }, (_, i) => ({ name: 'istio_requests_total', labels: { ...istioLabels('source', productpage, details), request_path: `/item/${i}` }, value: total }));
    const first = converter.convert(batch(series(10, 5), T0));
    assert.deepEqual({ baselines: first.baselines, dropped: first.dropped }, { baselines: 3, dropped: 2 });
    assert.match(first.droppedExample!, /^istio_requests_total\{reporter="source",.*request_path="\/item\/3"\}$/);
    assert.equal(converter.size, 3);
    const second = converter.convert(batch(series(12, 5), T0 + 15_000));
    assert.equal(second.dropped, 2);
    assert.deepEqual(byEdge(second.increments), { 'bookinfo/productpage@v1->bookinfo/details@v1': edge(6, 0, 0, 0) });
    assert.equal(converter.size, 3);
  });

  it('series gone stale free their room for new ones', () => {
    let now = T0;
    const converter = new PrometheusEdgeConverter({ clock: () => now, maxSeries: 1, maxStalenessMs: 60_000 });
    const { productpage, details, ratings } = bookinfo;
    const one = (destination: typeof details, value: number) => [{ name: 'istio_requests_total', labels: istioLabels('source', productpage, destination), value }];
    converter.convert(batch(one(details, 1), now));
    assert.equal(converter.convert(batch(one(ratings, 1), now)).dropped, 1);
    now += 120_000;
    assert.equal(converter.convert(batch(one(ratings, 1), now)).dropped, 0);
  });
});
