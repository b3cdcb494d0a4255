// Spans sent through the real OTLP receiver become the service graph served by /api/v1/service-graph:
// a root server fed by an unknown caller, a CLIENT→SERVER call whose halves arrive in separate
// requests in reverse order, and an uninstrumented database named from the client's attributes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { GraphEdge, GraphNode } from '../../query/service-graph.ts';
import { getJson, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';
import { type HandSpan, SPAN_KIND, otlpJsonRequest, postTraces } from '../helpers/otlp-json.ts';

let meshlens: TestMeshlens;
before(async () => {
  meshlens = await startTestMeshlens({ overrides: { 'graph.wait': '1s', 'graph.flush_interval': '300ms' } });
});
after(async () => {
  await meshlens.destroy();
});

const ms = 1_000_000n;
const base = BigInt(Date.now() - 60_000) * ms;
type SpanSpec = HandSpan;
const request = (service: string, spans: SpanSpec[]) => otlpJsonRequest(service, 'bookinfo', base, spans);
const send = (body: string) => postTraces(meshlens.otlpHttpUrl, body);
const { server: SERVER, client: CLIENT } = SPAN_KIND;

describe('service graph from spans', () => {
  it('derives exact nodes and edges, pairing halves that arrive in separate requests, out of order', async () => {
    // reviews' SERVER halves (and its database calls) arrive first, in their own request...
    await send(
      request(
        'reviews',
        [1, 2, 3].flatMap((t): SpanSpec[] => [
          { trace: t, id: t * 100 + 3, parent: t * 100 + 2, kind: SERVER, startMs: t * 1000 + 2, durationMs: 20, attributes: { 'http.response.status_code': t === 3 ? 503 : 200 } },
          { trace: t, id: t * 100 + 4, parent: t * 100 + 3, kind: CLIENT, startMs: t * 1000 + 5, durationMs: 4, attributes: { 'db.system': 'mysql', 'db.namespace': 'ratings' } },
        ]),
      ),
    );
    // ...then frontend's root SERVER spans and their CLIENT calls to reviews.
    await send(
      request(
        'frontend',
        [1, 2, 3].flatMap((t): SpanSpec[] => [
          { trace: t, id: t * 100 + 1, kind: SERVER, startMs: t * 1000, durationMs: 30 },
          { trace: t, id: t * 100 + 2, parent: t * 100 + 1, kind: CLIENT, startMs: t * 1000 + 1, durationMs: 25 },
        ]),
      ),
    );

    let graph: { nodes: GraphNode[]; edges: GraphEdge[] } = { nodes: [], edges: [] };
    for (let i = 0; i < 60 && graph.edges.length < 3; i++) {
      await new Promise((r) => setTimeout(r, 250));
      graph = (await getJson<typeof graph>(`${meshlens.queryUrl}/api/v1/service-graph?start=${Date.now() - 600_000}`)).body;
    }
    const edges = graph.edges.map((e) => ({ id: e.id, requests: e.requests, errors: e.errors, p50Ms: e.p50Ms, mtls: e.mtls, signals: e.signals }));
    assert.deepEqual(edges, [
      { id: 'bookinfo/frontend->bookinfo/reviews', requests: 3, errors: 1, p50Ms: edges[0]!.p50Ms, mtls: null, signals: ['spans'] },
      { id: 'bookinfo/reviews->ratings', requests: 3, errors: 0, p50Ms: edges[1]!.p50Ms, mtls: null, signals: ['spans'] },
      { id: 'unknown->bookinfo/frontend', requests: 3, errors: 0, p50Ms: edges[2]!.p50Ms, mtls: null, signals: ['spans'] },
    ]);
    // Latency is what the callee spent: reviews' 20 ms, the database call's 4 ms, frontend's 30 ms (±1 %).
    assert.ok(Math.abs(edges[0]!.p50Ms! - 20) <= 0.2, `p50 ${edges[0]!.p50Ms}`);
    assert.ok(Math.abs(edges[1]!.p50Ms! - 4) <= 0.04, `p50 ${edges[1]!.p50Ms}`);
    assert.ok(Math.abs(edges[2]!.p50Ms! - 30) <= 0.3, `p50 ${edges[2]!.p50Ms}`);
    assert.deepEqual(
      graph.nodes.map((n) => [n.id, n.kind, n.requests, n.errors]),
      [
        ['bookinfo/frontend', 'service', 3, 0],
        ['bookinfo/reviews', 'service', 3, 1],
        ['ratings', 'database', 3, 0],
        ['unknown', 'unknown', 0, 0],
      ],
    );
    const frontend = graph.edges[0]!;
    assert.ok(frontend.rps > 0 && frontend.errorRate === Math.round((1 / 3) * 1e4) / 1e4);
  });

  it("answers Jaeger's and Zipkin's dependency APIs from the same rows", async () => {
    const jaeger = (await getJson<{ data: Array<{ parent: string; child: string; callCount: number }>; errors: unknown }>(`${meshlens.queryUrl}/api/dependencies?endTs=${Date.now()}&lookback=600000`)).body;
    assert.equal(jaeger.errors, null);
    assert.deepEqual(jaeger.data, [
      { parent: 'frontend', child: 'reviews', callCount: 3 },
      { parent: 'reviews', child: 'ratings', callCount: 3 },
      { parent: 'unknown', child: 'frontend', callCount: 3 },
    ]);
    const zipkin = (await getJson<Array<{ parent: string; child: string; callCount: number; errorCount: number }>>(`${meshlens.queryUrl}/api/v2/dependencies?endTs=${Date.now()}&lookback=600000`)).body;
    assert.deepEqual(zipkin, [
      { parent: 'frontend', child: 'reviews', callCount: 3, errorCount: 1 },
      { parent: 'reviews', child: 'ratings', callCount: 3, errorCount: 0 },
      { parent: 'unknown', child: 'frontend', callCount: 3, errorCount: 0 },
    ]);
    const old = (await getJson<{ data: unknown[] }>(`${meshlens.queryUrl}/api/dependencies?endTs=${Date.now() - 3_600_000}&lookback=60000`)).body;
    assert.deepEqual(old.data, [], 'a window before the traffic has no dependencies');
  });

  it('serves latency, the latency heatmap and RED for a service and for an edge', async () => {
    const window = `start=${Date.now() - 600_000}`;
    const served = (await getJson<{ count: number; p50Ms: number; buckets: Array<{ leMs: number | null; count: number }> }>(`${meshlens.queryUrl}/api/v1/latency?${window}&service=bookinfo/reviews`)).body;
    assert.equal(served.count, 3);
    assert.ok(Math.abs(served.p50Ms - 20) <= 0.2, `p50 ${served.p50Ms}`);
    assert.equal(served.buckets.at(-1)!.leMs, null);
    assert.equal(served.buckets.reduce((sum, b) => sum + b.count, 0), 3);
    assert.equal(served.buckets.find((b) => b.leMs === 20)!.count, 3, 'all three calls took 20 ms: the 10–20 ms bucket');

    const edge = (await getJson<{ count: number }>(`${meshlens.queryUrl}/api/v1/latency?${window}&source=bookinfo/reviews&target=ratings`)).body;
    assert.equal(edge.count, 3);

    const heatmap = (await getJson<{ times: number[]; bucketsLeMs: Array<number | null>; counts: number[][] }>(`${meshlens.queryUrl}/api/v1/latency/heatmap?${window}&service=reviews&step=1m`)).body;
    assert.equal(heatmap.times.length, heatmap.counts.length);
    assert.equal(heatmap.bucketsLeMs.at(-1), null);
    assert.equal(heatmap.counts.flat().reduce((a, b) => a + b, 0), 3);

    const red = (await getJson<{ times: number[]; requests: number[]; errors: number[]; p95Ms: Array<number | null> }>(`${meshlens.queryUrl}/api/v1/red?${window}&service=reviews`)).body;
    assert.equal(red.requests.reduce((a, b) => a + b, 0), 3);
    assert.equal(red.errors.reduce((a, b) => a + b, 0), 1);
    assert.ok(red.p95Ms.some((p) => p !== null && Math.abs(p - 20) <= 0.2));

    const neither = await getJson<{ error: string }>(`${meshlens.queryUrl}/api/v1/latency?${window}`);
    assert.equal(neither.status, 400);
    assert.match(neither.body.error, /select either service, or source and target/);
  });

  it('filters by focus service and namespace, and refuses a bad time', async () => {
    const focus = (await getJson<{ edges: GraphEdge[] }>(`${meshlens.queryUrl}/api/v1/service-graph?start=${Date.now() - 600_000}&service=ratings`)).body;
    assert.deepEqual(focus.edges.map((e) => e.id), ['bookinfo/reviews->ratings']);
    const other = (await getJson<{ edges: GraphEdge[] }>(`${meshlens.queryUrl}/api/v1/service-graph?start=${Date.now() - 600_000}&namespace=elsewhere`)).body;
    assert.deepEqual(other.edges, []);
    const bad = await getJson<{ error: string }>(`${meshlens.queryUrl}/api/v1/service-graph?start=yesterday`);
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /start must be Unix milliseconds or RFC 3339/);
  });
});
