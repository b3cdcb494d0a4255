// Latency and RED over every signal count each request once, as the service graph does: an edge that both
// spans and Envoy's access logs describe takes its figures from the access logs (the more complete signal)
// in /api/v1/red, /api/v1/latency and /api/v1/service-graph alike; asking for one signal gives that one.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NodeRef } from '../../collector/service-graph/halves.ts';
import { EdgeMinutes, type EdgeIncrement, type Signal } from '../../collector/service-graph/edge-rows.ts';
import { LatencyHistogram } from '../../collector/service-graph/histogram.ts';
import { EDGE_COLUMNS } from '../../collector/storage/schema.ts';
import type { GraphEdge } from '../../query/service-graph.ts';
import { getJson, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';

let meshlens: TestMeshlens;
const FRONTEND: NodeRef = { kind: 'service', name: 'frontend', namespace: 'shop' };
const CART: NodeRef = { kind: 'service', name: 'cart', namespace: 'shop' };
const minuteAgo = BigInt(Date.now() - 60_000) * 1_000_000n;

/** `requests` calls of `ms` each, `errors` of them failed, as one signal saw them. */
function seen(requests: number, errors: number, ms: number): EdgeIncrement {
  const latency = new LatencyHistogram();
  latency.add(ms, requests);
  return { timeUnixNano: minuteAgo, source: FRONTEND, target: CART, protocol: 'http', requests, errors, mtlsYes: 0, mtlsNo: 0, latency };
}

async function store(increment: EdgeIncrement, signal: Signal): Promise<void> {
  const minutes = new EdgeMinutes();
  minutes.addIncrements([increment], signal);
  const rows = minutes.drain()!;
  await meshlens.running.store.insert('edges_1m', EDGE_COLUMNS, rows.body);
}

before(async () => {
  meshlens = await startTestMeshlens();
  // Spans are sampled: they saw 3 of the calls; the sidecar's access logs saw all 20.
  await store(seen(3, 0, 20), 'spans');
  await store(seen(20, 2, 30), 'envoy-als');
});
after(async () => {
  await meshlens.destroy();
});

const window = () => `start=${Date.now() - 10 * 60_000}&end=${Date.now()}`;
const edge = 'source=shop/frontend&target=shop/cart';
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

describe('latency and RED over all signals', () => {
  it('count the edge from its most complete signal, as the service graph does', async () => {
    const graph = await getJson<{ edges: GraphEdge[] }>(`${meshlens.queryUrl}/api/v1/service-graph?${window()}`);
    assert.deepEqual(graph.body.edges.map((e) => [e.id, e.requests, e.errors, e.signals]), [['shop/frontend->shop/cart', 20, 2, ['envoy-als', 'spans']]]);
    const red = await getJson<{ requests: number[]; errors: number[] }>(`${meshlens.queryUrl}/api/v1/red?${edge}&${window()}`);
    assert.equal(red.status, 200, JSON.stringify(red.body));
    assert.deepEqual([sum(red.body.requests), sum(red.body.errors)], [20, 2]);
    const served = await getJson<{ requests: number[] }>(`${meshlens.queryUrl}/api/v1/red?service=shop/cart&${window()}`);
    assert.equal(sum(served.body.requests), 20, "a service's calls too");
    const latency = await getJson<{ count: number; p50Ms: number }>(`${meshlens.queryUrl}/api/v1/latency?${edge}&${window()}`);
    assert.equal(latency.body.count, 20);
    assert.ok(Math.abs(latency.body.p50Ms - 30) <= 0.3, `p50 from the access logs' 30 ms, got ${latency.body.p50Ms}`);
  });

  it('give one signal alone when asked', async () => {
    const red = await getJson<{ requests: number[] }>(`${meshlens.queryUrl}/api/v1/red?${edge}&signal=spans&${window()}`);
    assert.equal(sum(red.body.requests), 3);
    const latency = await getJson<{ count: number; p50Ms: number }>(`${meshlens.queryUrl}/api/v1/latency?${edge}&signal=spans&${window()}`);
    assert.deepEqual([latency.body.count, Math.round(latency.body.p50Ms)], [3, 20]);
  });
});
