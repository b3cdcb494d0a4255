// Prometheus scraping end to end: REAL prom-client registries, served over HTTP on loopback, expose what a
// Linkerd proxy and two Istio sidecars expose (mesh-telemetry.md §3); meshlens scrapes them every 300 ms
// (scrape.targets with the labels that say who each proxy is), the test adds traffic between scrapes, and
// the service graph and latency APIs answer with exact edges, counts, errors and percentiles (inside the
// bucket). Beside them: a target that hangs, one that answers 500, and one whose page mixes garbage lines
// with good ones — each visible in meshlens' own per-target health metrics, the good targets unaffected.
// One more proxy is not configured but found by Kubernetes pod discovery (scrape.kubernetes.api_server
// pointed at a loopback double of the API server) and named from its pod.
import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Counter, Histogram, Registry, type RegistryContentType } from 'prom-client';
import type { GraphEdge } from '../../query/service-graph.ts';
import { ENVOY_BOUNDS_MS, LINKERD_BOUNDS_MS, bookinfo, istioLabels, linkerdOutbound } from '../helpers/mesh-series.ts';
import { getJson, graphEdgesUntil, ownMetric, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';

const { productpage, details, reviewsV2, ratings } = bookinfo;
const mysql = { app: 'mysqldb', version: 'v1', namespace: 'bookinfo' };

// ---- A linkerd2-proxy's families, as prom-client registries: one per proxy. ----

function linkerdProxy() {
  const registry = new Registry();
  const outbound = Object.keys(linkerdOutbound(reviewsV2));
  const requests = new Counter({ name: 'request_total', help: 'Total count of HTTP requests.', labelNames: outbound, registers: [registry] });
  const responses = new Counter({ name: 'response_total', help: 'Total count of HTTP responses.', labelNames: [...outbound, 'status_code', 'classification', 'grpc_status', 'error'], registers: [registry] });
  const latency = new Histogram({ name: 'response_latency_ms', help: 'Elapsed times between a request\'s headers being received and its response stream completing', labelNames: [...outbound, 'status_code'], buckets: LINKERD_BOUNDS_MS, registers: [registry] });
  /** `count` calls to `to`, each taking `ms`, answered `status`. */
  const call = (to: typeof reviewsV2, status: number, ms: number, count: number) => {
    const labels = linkerdOutbound(to);
    requests.inc(labels, count);
    responses.inc({ ...labels, status_code: String(status), classification: status >= 500 ? 'failure' : 'success', grpc_status: '', error: '' }, count);
    for (let i = 0; i < count; i++) latency.observe({ ...labels, status_code: String(status) }, ms);
  };
  return { registry, call };
}

// ---- An Istio sidecar's standard metrics; `reporter` says which side of the call it is on. ----

function istioSidecar(reporter: 'source' | 'destination', openMetrics: boolean) {
  const registry = new Registry<RegistryContentType>();
  if (openMetrics) registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  const names = Object.keys(istioLabels(reporter, reviewsV2, ratings));
  const requests = new Counter({ name: 'istio_requests_total', help: 'requests', labelNames: names, registers: [registry] });
  const duration = new Histogram({ name: 'istio_request_duration_milliseconds', help: 'duration', labelNames: names, buckets: ENVOY_BOUNDS_MS, registers: [registry] });
  const call = (code: number, ms: number, count: number) => {
    const labels = istioLabels(reporter, reviewsV2, ratings, { code });
    requests.inc(labels, count);
    for (let i = 0; i < count; i++) duration.observe(labels, ms);
  };
  return { registry, call };
}

const productpageProxy = linkerdProxy();
// Found by Kubernetes pod discovery rather than configured: reviews-v3's proxy.
const reviewsV3Proxy = linkerdProxy();
const detailsProxy = linkerdProxy();
// The reviews sidecar's page is served as OpenMetrics (application/openmetrics-text, `# EOF`).
const reviewsSidecar = istioSidecar('source', true);
const ratingsSidecar = istioSidecar('destination', false);

/** Lines that are not Prometheus text, spliced into the details proxy's otherwise good page. */
const GARBAGE = ['}}} not a metric', 'response_total{direction="outbound" 5', 'request_total{direction="outbound"} many'];

/** A proxy that suddenly exposes far more series than limits.label_cardinality allows. */
const BOMB_SERIES = 3000;
const LABEL_CARDINALITY = 500;
let bombOn = false;
function bombPage(): string {
  const lines = ['# TYPE istio_requests_total counter'];
  for (let i = 0; i < BOMB_SERIES; i++) {
    lines.push(`istio_requests_total{reporter="source",source_workload="bomb",source_workload_namespace="bomb",destination_workload="d${i}",destination_workload_namespace="bomb",response_code="200"} 1`);
  }
  return lines.join('\n');
}

let server: Server;
let base: string;
const served = new Map<string, number>();

const PAGES: Record<string, () => Promise<{ body: string; contentType: string }>> = {
  '/productpage/metrics': async () => ({ body: await productpageProxy.registry.metrics(), contentType: productpageProxy.registry.contentType }),
  '/reviews/stats/prometheus': async () => ({ body: await reviewsSidecar.registry.metrics(), contentType: reviewsSidecar.registry.contentType }),
  '/ratings/stats/prometheus': async () => ({ body: await ratingsSidecar.registry.metrics(), contentType: ratingsSidecar.registry.contentType }),
  // Empty until the cardinality test turns it into a page of BOMB_SERIES new series.
  '/bomb/metrics': async () => ({ body: bombOn ? bombPage() : '', contentType: 'text/plain; version=0.0.4' }),
  '/reviews-v3/metrics': async () => ({ body: await reviewsV3Proxy.registry.metrics(), contentType: reviewsV3Proxy.registry.contentType }),
  '/details/metrics': async () => {
    const lines = (await detailsProxy.registry.metrics()).split('\n');
    // One garbage line before the first family, two between samples.
    lines.splice(0, 0, GARBAGE[0]!);
    const firstSample = lines.findIndex((line) => line.startsWith('response_total{'));
    lines.splice(firstSample, 0, GARBAGE[1]!, GARBAGE[2]!);
    return { body: lines.join('\n'), contentType: detailsProxy.registry.contentType };
  },
};

let meshlens: TestMeshlens;
const url = (path: string) => `${base}${path}`;

/**
 * A test double of the Kubernetes API server (a system we do not run here), not of meshlens code: one
 * running pod, reviews-v3 of a Deployment, whose prometheus.io annotations point at this test's server.
 */
function podList(port: number) {
  return {
    kind: 'PodList',
    apiVersion: 'v1',
    metadata: { resourceVersion: '7' },
    items: [
      {
        metadata: {
          name: 'reviews-v3-7f4c9d8b6-q2w3e',
          namespace: 'bookinfo',
          labels: { app: 'reviews', version: 'v3', 'pod-template-hash': '7f4c9d8b6' },
          annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/reviews-v3/metrics' },
          ownerReferences: [{ kind: 'ReplicaSet', name: 'reviews-v3-7f4c9d8b6', controller: true }],
        },
        spec: { nodeName: 'node-1', containers: [{ name: 'reviews', image: 'reviews:v3', ports: [{ containerPort: 9080 }] }] },
        status: { phase: 'Running', podIP: '127.0.0.1' },
      },
    ],
  };
}

before(async () => {
  server = createServer((request, response) => {
    const path = request.url ?? '/';
    if (path.startsWith('/api/v1/pods?')) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(podList((server.address() as { port: number }).port)));
      return;
    }
    if (path === '/hang/metrics') return; // never answers: meshlens must give up at scrape.timeout
    if (path === '/broken/metrics') {
      response.writeHead(500, { 'content-type': 'text/plain' });
      response.end('internal error');
      return;
    }
    const page = PAGES[path];
    if (!page) {
      response.writeHead(404);
      response.end();
      return;
    }
    void page().then(({ body, contentType }) => {
      response.writeHead(200, { 'content-type': contentType });
      response.end(body, () => served.set(path, (served.get(path) ?? 0) + 1));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  // Lifetime totals from before meshlens came: the first scrape is a baseline, never traffic.
  productpageProxy.call(reviewsV2, 200, 3, 100);
  detailsProxy.call(mysql, 200, 2, 40);
  reviewsSidecar.call(200, 3, 50);
  ratingsSidecar.call(200, 2, 50);
  reviewsV3Proxy.call(ratings, 200, 4, 30);

  const targets = [
    { url: url('/productpage/metrics'), labels: { workload: 'productpage-v1', namespace: 'bookinfo', mesh: 'linkerd' } },
    { url: url('/details/metrics'), labels: { workload: 'details-v1', namespace: 'bookinfo', mesh: 'linkerd' } },
    { url: url('/reviews/stats/prometheus'), labels: { workload: 'reviews-v2', namespace: 'bookinfo', mesh: 'istio' } },
    { url: url('/ratings/stats/prometheus'), labels: { workload: 'ratings-v1', namespace: 'bookinfo', mesh: 'istio' } },
    { url: url('/bomb/metrics'), labels: { workload: 'bomb', namespace: 'bomb' } },
    { url: url('/hang/metrics'), labels: { workload: 'stuck' } },
    { url: url('/broken/metrics'), labels: { workload: 'broken' } },
  ];
  meshlens = await startTestMeshlens({
    overrides: {
      'graph.flush_interval': '300ms',
      'scrape.interval': '300ms',
      'scrape.timeout': '250ms',
      'scrape.kubernetes.enabled': 'true',
      'scrape.kubernetes.api_server': base,
      'scrape.targets': JSON.stringify(targets),
      'limits.label_cardinality': String(LABEL_CARDINALITY),
    },
  });
});

after(async () => {
  await meshlens?.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const CONFIGURED = ['/productpage/metrics', '/details/metrics', '/reviews/stats/prometheus', '/ratings/stats/prometheus'];
const DISCOVERED = '/reviews-v3/metrics';
const GOOD = [...CONFIGURED, DISCOVERED];

/** Waits until meshlens has taken a scrape of every good target that began after this call. */
async function nextScrapeOfEveryTarget(): Promise<void> {
  const before = new Map(GOOD.map((path) => [path, served.get(path) ?? 0]));
  for (let i = 0; i < 100; i++) {
    // A page is counted when sent; the next one proves meshlens has read the one before.
    if (GOOD.every((path) => (served.get(path) ?? 0) >= before.get(path)! + 2)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`targets not scraped: ${JSON.stringify([...served])}`);
}

/** Waits until meshlens' own metrics show every good target scraped successfully (its samples taken). */
async function everyGoodTargetUp(): Promise<Map<string, number>> {
  let up = new Map<string, number>();
  for (let i = 0; i < 100; i++) {
    up = await ownMetric(meshlens.queryUrl, 'meshlens_scrape_target_up');
    if (CONFIGURED.every((path) => up.get(`{target="${url(path)}",origin="static"}`) === 1) && up.get(`{target="${url(DISCOVERED)}",origin="kubernetes"}`) === 1) return up;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`targets not up: ${JSON.stringify([...up])}`);
}

const edge = (edges: GraphEdge[], source: string, target: string) => edges.find((e) => e.source === source && e.target === target);

const inBucket = (name: string, actual: number | null, lower: number, upper: number) =>
  assert.ok(actual !== null && actual > lower && actual <= upper * 1.01, `${name} ${actual} ms is not in the (${lower}, ${upper}] ms bucket`);

describe('Prometheus scrape: mesh proxies scraped for real', () => {
  it('counts only what happens after the first scrape, exactly, with errors, mTLS and latency', async () => {
    // The first successful scrape of each target is its baseline: traffic starts after it.
    await everyGoodTargetUp();
    // Round 1 between scrapes.
    productpageProxy.call(reviewsV2, 200, 7, 4);
    productpageProxy.call(reviewsV2, 200, 25, 4);
    productpageProxy.call(reviewsV2, 500, 150, 2);
    detailsProxy.call(mysql, 200, 2, 3);
    reviewsV3Proxy.call(ratings, 200, 4, 7);
    reviewsV3Proxy.call(ratings, 503, 4, 1);
    // reviews-v2 → ratings-v1 as both sidecars count it: 6 calls, one 503; counted once (the reporter rule).
    for (const sidecar of [reviewsSidecar, ratingsSidecar]) {
      sidecar.call(200, 3, 3);
      sidecar.call(200, 40, 2);
      sidecar.call(503, 40, 1);
    }
    await nextScrapeOfEveryTarget();
    // Round 2, a later interval.
    productpageProxy.call(reviewsV2, 200, 7, 10);

    const edges = await graphEdgesUntil(meshlens.queryUrl, 'prometheus', 'bookinfo', (found) => edge(found, 'bookinfo/productpage-v1', 'bookinfo/reviews-v2')?.requests === 20);
    const linkerd = edge(edges, 'bookinfo/productpage-v1', 'bookinfo/reviews-v2');
    assert.ok(linkerd, JSON.stringify(edges));
    assert.deepEqual([linkerd.requests, linkerd.errors, linkerd.mtls, linkerd.signals], [20, 2, true, ['prometheus']]);
    // 14 calls ≤ 10 ms, 4 ≤ 30 ms, 2 ≤ 200 ms (Linkerd's bounds).
    inBucket('p50', linkerd.p50Ms, 5, 10);
    inBucket('p95', linkerd.p95Ms, 100, 200);
    inBucket('p99', linkerd.p99Ms, 100, 200);

    const istio = edge(edges, 'bookinfo/reviews@v2', 'bookinfo/ratings@v1');
    assert.ok(istio, JSON.stringify(edges));
    assert.deepEqual([istio.requests, istio.errors, istio.mtls], [6, 1, true], 'counted once; mTLS from the destination sidecar');
    // 3 calls ≤ 5 ms, 3 ≤ 50 ms (Envoy's bounds).
    inBucket('p50', istio.p50Ms, 1, 5);
    inBucket('p99', istio.p99Ms, 25, 50);

    // The page with garbage lines: the good lines on it still count.
    const withGarbage = edge(edges, 'bookinfo/details-v1', 'bookinfo/mysqldb-v1');
    assert.deepEqual([withGarbage?.requests, withGarbage?.errors], [3, 0], JSON.stringify(edges));

    // The pod discovery found: named by its Deployment (the ReplicaSet minus pod-template-hash) and namespace.
    const discovered = edge(edges, 'bookinfo/reviews-v3', 'bookinfo/ratings-v1');
    assert.deepEqual([discovered?.requests, discovered?.errors, discovered?.mtls], [8, 1, true], JSON.stringify(edges));

    const stuck = edges.filter((e) => /stuck|broken/.test(`${e.source} ${e.target}`));
    assert.deepEqual(stuck, [], 'failing targets add nothing');

    const start = Date.now() - 600_000;
    const latency = (
      await getJson<{ count: number; p50Ms: number; p90Ms: number; p99Ms: number; buckets: { leMs: number | null; count: number }[] }>(
        `${meshlens.queryUrl}/api/v1/latency?source=bookinfo/productpage-v1&target=bookinfo/reviews-v2&signal=prometheus&start=${start}`,
      )
    ).body;
    assert.equal(latency.count, 20);
    assert.equal(latency.buckets.reduce((sum, b) => sum + b.count, 0), 20);
    inBucket('p50', latency.p50Ms, 5, 10);
    inBucket('p90', latency.p90Ms, 20, 30);
    inBucket('p99', latency.p99Ms, 100, 200);
  });

  it('shows each target\'s health in /metrics: the hanging one timed out, the broken one 500, the garbage counted', async () => {
    const key = (target: string) => `{target="${url(target)}",origin="static"}`;
    // (A good target may miss one scrape on a loaded machine: wait for all to be up at once.)
    const up = await everyGoodTargetUp();
    assert.equal(up.get(key('/hang/metrics')), 0);
    assert.equal(up.get(key('/broken/metrics')), 0);

    const lastError = await ownMetric(meshlens.queryUrl, 'meshlens_scrape_last_error');
    assert.deepEqual(
      [...lastError.entries()].sort(),
      [
        [`{target="${url('/broken/metrics')}",reason="http_status",message="HTTP 500"}`, 1],
        [`{target="${url('/hang/metrics')}",reason="timeout",message="no complete answer within 250ms"}`, 1],
      ],
    );
    const badLines = await ownMetric(meshlens.queryUrl, 'meshlens_scrape_bad_lines');
    assert.equal(badLines.get(`{target="${url('/details/metrics')}"}`), GARBAGE.length);
    assert.equal(badLines.get(`{target="${url('/productpage/metrics')}"}`), 0);
    const samples = await ownMetric(meshlens.queryUrl, 'meshlens_scrape_samples_scraped');
    assert.ok((samples.get(`{target="${url('/productpage/metrics')}"}`) ?? 0) > 20, 'the Linkerd page has its counters and buckets');
    const duration = await ownMetric(meshlens.queryUrl, 'meshlens_scrape_duration_seconds');
    const hung = duration.get(`{target="${url('/hang/metrics')}"}`) ?? 0;
    assert.ok(hung >= 0.24 && hung < 1, `the hanging scrape took ${hung}s: aborted at the 250ms timeout`);
    assert.equal(up.get(`{target="${url(DISCOVERED)}",origin="kubernetes"}`), 1, 'the discovered target is scraped');
    const targets = await ownMetric(meshlens.queryUrl, 'meshlens_scrape_targets');
    assert.equal(targets.get('{origin="static"}'), 7);
    assert.equal(targets.get('{origin="kubernetes"}'), 1);
    const lists = await ownMetric(meshlens.queryUrl, 'meshlens_scrape_kubernetes_lists_total');
    assert.ok((lists.get('{result="ok"}') ?? 0) >= 1);
    const scrapes = await ownMetric(meshlens.queryUrl, 'meshlens_scrapes_total');
    assert.ok((scrapes.get('{result="timeout"}') ?? 0) >= 2 && (scrapes.get('{result="http_status"}') ?? 0) >= 2, JSON.stringify([...scrapes]));
    const series = await ownMetric(meshlens.queryUrl, 'meshlens_scrape_series_total');
    assert.ok((series.get('{result="counted"}') ?? 0) > 0 && (series.get('{result="baseline"}') ?? 0) > 0, JSON.stringify([...series]));
  });

  it('a target past limits.label_cardinality: its new series are dropped and counted, tracked series still count', async () => {
    const dropped = async () => (await ownMetric(meshlens.queryUrl, 'meshlens_scrape_series_total')).get('{result="dropped"}') ?? 0;
    assert.equal(await dropped(), 0);
    bombOn = true;
    for (let i = 0; i < 100 && (await dropped()) === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok((await dropped()) >= BOMB_SERIES - LABEL_CARDINALITY, `dropped ${await dropped()}`);
    productpageProxy.call(reviewsV2, 200, 7, 5);
    const edges = await graphEdgesUntil(meshlens.queryUrl, 'prometheus', 'bookinfo', (found) => edge(found, 'bookinfo/productpage-v1', 'bookinfo/reviews-v2')?.requests === 25);
    assert.equal(edge(edges, 'bookinfo/productpage-v1', 'bookinfo/reviews-v2')?.requests, 25, 'a tracked series still counts');
    assert.equal(edge(edges, 'bookinfo/reviews@v2', 'bookinfo/ratings@v1')?.requests, 6, 'nothing else changed');
    const bombEdges = (await getJson<{ edges: GraphEdge[] }>(`${meshlens.queryUrl}/api/v1/service-graph?signal=prometheus&namespace=bomb&start=${Date.now() - 600_000}`)).body.edges;
    assert.ok(bombEdges.length < LABEL_CARDINALITY, `at most the admitted series draw edges, got ${bombEdges.length}`);
  });
});
