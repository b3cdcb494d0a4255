// The Prometheus-compatible API that Grafana's Tempo data source queries for its service-graph tab: the exact
// requests Grafana sends (grafana.md §4.2: instant, POSTed as a form, `$__range` as a duration), answered
// field by field from spans sent through the real OTLP receiver.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { graphEdgesUntil, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';
import { type HandSpan, SPAN_KIND, otlpJsonRequest, postTraces } from '../helpers/otlp-json.ts';

let meshlens: TestMeshlens;
const { server: SERVER, client: CLIENT } = SPAN_KIND;
const base = BigInt(Date.now() - 60_000) * 1_000_000n;
/** reviews' latencies per trace (ms): what its server seconds and quantiles must show. */
const REVIEWS_MS = [10, 20, 40];

before(async () => {
  meshlens = await startTestMeshlens({ overrides: { 'graph.wait': '1s', 'graph.flush_interval': '300ms' } });
  // unknown → frontend → reviews (one 503) → the ratings database, three traces.
  await postTraces(
    meshlens.otlpHttpUrl,
    otlpJsonRequest(
      'reviews',
      'bookinfo',
      base,
      [0, 1, 2].flatMap((t): HandSpan[] => [
        { trace: t + 1, id: t * 100 + 3, parent: t * 100 + 2, kind: SERVER, startMs: t * 1000 + 2, durationMs: REVIEWS_MS[t]!, attributes: { 'http.response.status_code': t === 2 ? 503 : 200 } },
        { trace: t + 1, id: t * 100 + 4, parent: t * 100 + 3, kind: CLIENT, startMs: t * 1000 + 3, durationMs: 4, attributes: { 'db.system': 'mysql', 'db.namespace': 'ratings' } },
      ]),
    ),
  );
  await postTraces(
    meshlens.otlpHttpUrl,
    otlpJsonRequest(
      'frontend',
      'bookinfo',
      base,
      [0, 1, 2].flatMap((t): HandSpan[] => [
        { trace: t + 1, id: t * 100 + 1, kind: SERVER, startMs: t * 1000, durationMs: 60 },
        { trace: t + 1, id: t * 100 + 2, parent: t * 100 + 1, kind: CLIENT, startMs: t * 1000 + 1, durationMs: 50 },
      ]),
    ),
  );
  const edges = await graphEdgesUntil(meshlens.queryUrl, 'spans', 'bookinfo', (e) => e.length === 3);
  assert.equal(edges.length, 3, 'the graph is written before the Prometheus API is asked');
});
after(async () => {
  await meshlens.destroy();
});

interface PromAnswer<T> {
  status: string;
  data: T;
  errorType?: string;
  error?: string;
}
interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** Grafana's Prometheus data source with its default HTTP method: POST, form-encoded. */
async function promPost<T>(path: string, form: Record<string, string>): Promise<{ status: number; body: PromAnswer<T> }> {
  const response = await fetch(`${meshlens.queryUrl}/prometheus/api/v1/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return { status: response.status, body: (await response.json()) as PromAnswer<T> };
}

async function promGet<T>(pathAndQuery: string): Promise<{ status: number; body: PromAnswer<T> }> {
  const response = await fetch(`${meshlens.queryUrl}/prometheus/api/v1/${pathAndQuery}`);
  return { status: response.status, body: (await response.json()) as PromAnswer<T> };
}

const now = () => String(Date.now() / 1000);
const instant = (query: string) => promPost<{ resultType: string; result: VectorSample[] }>('query', { query, time: now() });
/** The answer's samples as `client->server` → value, in a stable order. */
const byEdge = (result: VectorSample[]) => Object.fromEntries(result.map((s) => [`${s.metric.client}->${s.metric.server}`, Number(s.value[1])]).sort());

describe('Prometheus-compatible API (Grafana Tempo service-graph tab)', () => {
  it("answers the tab's totals and failures: sum by (client, server) (rate(…[$__range]))", async () => {
    const total = await instant('sum by (client, server) (rate(traces_service_graph_request_total[3600s]))');
    assert.equal(total.status, 200);
    assert.equal(total.body.status, 'success');
    assert.equal(total.body.data.resultType, 'vector');
    assert.deepEqual(byEdge(total.body.data.result), { 'frontend->reviews': 3 / 3600, 'reviews->ratings': 3 / 3600, 'unknown->frontend': 3 / 3600 });
    for (const sample of total.body.data.result) {
      assert.deepEqual(Object.keys(sample.metric).sort(), ['client', 'server'], 'exactly the by() labels');
      assert.ok(Math.abs(sample.value[0] - Date.now() / 1000) < 60, 'the sample is stamped at the query time');
    }
    const failed = await instant('sum by (client, server) (rate(traces_service_graph_request_failed_total[1h]))');
    assert.deepEqual(byEdge(failed.body.data.result), { 'frontend->reviews': 1 / 3600, 'reviews->ratings': 0, 'unknown->frontend': 0 });
  });

  it('answers server seconds: the sum of latencies, and the mean Grafana divides out of it', async () => {
    const sum = await instant('sum by (client, server) (rate(traces_service_graph_request_server_seconds_sum[1h]))');
    const perEdge = byEdge(sum.body.data.result);
    const expected = REVIEWS_MS.reduce((a, b) => a + b, 0) / 1000 / 3600;
    assert.ok(Math.abs(perEdge['frontend->reviews']! - expected) <= expected * 0.01, `reviews: ${perEdge['frontend->reviews']} vs ${expected} (1 % buckets)`);
    const mean = await instant('sum by (client, server) (rate(traces_service_graph_request_server_seconds_sum[1h])) / sum by (client, server) (rate(traces_service_graph_request_server_seconds_count[1h]))');
    const meanMs = byEdge(mean.body.data.result)['reviews->ratings']! * 1000;
    assert.ok(Math.abs(meanMs - 4) <= 0.04, `database calls take 4 ms on average, got ${meanMs}`);
  });

  it("answers the label query with connection types and namespaces (group by …, the 'include namespace' form)", async () => {
    const grouped = await instant('group by (client, connection_type, server) (traces_service_graph_request_total)');
    assert.deepEqual(
      grouped.body.data.result.map((s) => [s.metric, s.value[1]]).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      [
        [{ client: 'frontend', server: 'reviews' }, '1'],
        [{ client: 'reviews', connection_type: 'database', server: 'ratings' }, '1'],
        [{ client: 'unknown', server: 'frontend' }, '1'],
      ],
    );
    const withNamespaces = await instant('sum by (client, server, client_service_namespace, server_service_namespace) (rate(traces_service_graph_request_total[1h]))');
    const frontendToReviews = withNamespaces.body.data.result.find((s) => s.metric.client === 'frontend');
    assert.deepEqual(frontendToReviews?.metric, { client: 'frontend', server: 'reviews', client_service_namespace: 'bookinfo', server_service_namespace: 'bookinfo' });
  });

  it('joins several filters with OR, as Grafana does for a filtered graph', async () => {
    const filtered = await instant(
      'sum by (client, server) (rate(traces_service_graph_request_total{server="reviews"}[1h]) OR rate(traces_service_graph_request_total{client="reviews"}[1h]))',
    );
    assert.deepEqual(Object.keys(byEdge(filtered.body.data.result)), ['frontend->reviews', 'reviews->ratings']);
    const regex = await instant('sum by (server) (rate(traces_service_graph_request_total{server=~"rev.*|ratings", client!="nobody"}[1h]))');
    assert.deepEqual(regex.body.data.result.map((s) => s.metric.server).sort(), ['ratings', 'reviews']);
  });

  it("answers the context menu's histogram_quantile from the edge's own histogram (not the coarse le bounds)", async () => {
    const p90 = await instant('histogram_quantile(0.9, sum(rate(traces_service_graph_request_server_seconds_bucket{client="frontend",server="reviews"}[5m])) by (le, client, server))');
    assert.equal(p90.body.data.result.length, 1);
    assert.deepEqual(p90.body.data.result[0]!.metric, { client: 'frontend', server: 'reviews' });
    const seconds = Number(p90.body.data.result[0]!.value[1]);
    assert.ok(Math.abs(seconds - 0.04) <= 0.0004, `p90 of 10/20/40 ms is 40 ms ±1 %, got ${seconds}`);
    // The buckets themselves: cumulative, ending in +Inf with every call.
    const buckets = await instant('sum by (le) (increase(traces_service_graph_request_server_seconds_bucket{server="reviews"}[1h]))');
    const counts = Object.fromEntries(buckets.body.data.result.map((s) => [s.metric.le, Number(s.value[1])]));
    assert.deepEqual([counts['0.005'], counts['0.01'], counts['0.025'], counts['0.05'], counts['+Inf']], [0, 1, 2, 3, 3], 'le is inclusive: 10 ms ≤ 0.01 s');
  });

  it('answers range queries as a matrix, and a plain number (Grafana\'s health check)', async () => {
    const end = Math.floor(Date.now() / 1000);
    const range = await promGet<{ resultType: string; result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> }>(
      `query_range?query=${encodeURIComponent('sum(rate(traces_service_graph_request_total{client="frontend"}[5m]))')}&start=${end - 600}&end=${end}&step=60`,
    );
    assert.equal(range.body.data.resultType, 'matrix');
    const [series] = range.body.data.result;
    assert.deepEqual(series?.metric, {});
    // As in Prometheus, a sum over no series has no point: only steps whose 5 minutes hold calls appear.
    assert.ok(series !== undefined && series.values.length >= 1 && series.values.length <= 7, `${series?.values.length} points`);
    assert.ok(series.values.every(([t]) => t >= end - 600 && t <= end && (t - (end - 600)) % 60 === 0), 'points fall on the steps');
    assert.deepEqual(series.values.at(-1), [end, String(3 / 300)], 'the last 5 minutes hold all three calls');
    const check = await instant('1+1');
    assert.deepEqual(check.body.data, { resultType: 'scalar', result: [check.body.data.result[0], '2'] });
  });

  it("answers the query editor's label lookups with match[]", async () => {
    const match = encodeURIComponent('{__name__=~"traces_service_graph_request_server_seconds_sum|traces_service_graph_request_total|traces_service_graph_request_failed_total"}');
    const labels = await promGet<string[]>(`labels?match[]=${match}`);
    assert.deepEqual(labels.body.data, ['__name__', 'client', 'client_service_namespace', 'connection_type', 'server', 'server_service_namespace']);
    const clients = await promGet<string[]>(`label/client/values?match[]=${match}`);
    assert.deepEqual(clients.body.data, ['frontend', 'reviews', 'unknown']);
    const names = await promGet<string[]>('label/__name__/values');
    assert.ok(names.body.data.includes('traces_service_graph_request_total') && names.body.data.includes('traces_service_graph_request_client_seconds_bucket'));
  });

  it('refuses what it does not answer with Prometheus\' error shape', async () => {
    const unsupported = await instant('topk(5, traces_service_graph_request_total)');
    assert.equal(unsupported.status, 400);
    assert.deepEqual([unsupported.body.status, unsupported.body.errorType], ['error', 'bad_data']);
    assert.match(unsupported.body.error!, /topk\(\) is not supported/);
    const broken = await instant('sum by (client (rate(x[5m]))');
    assert.equal(broken.status, 400);
    const missing = await promPost('query', {});
    assert.deepEqual([missing.status, missing.body.error], [400, 'invalid parameter "query": missing']);
    const badStep = await promGet(`query_range?query=1&start=0&end=100000&step=1`);
    assert.match(String(badStep.body.error), /11000 points/);
  });
});
