// Prometheus remote-write end to end: the real `prometheus-remote-write` npm client pushes Istio-style and
// Linkerd-style series (test/helpers/mesh-series.ts) to POST /api/v1/write on the OTLP HTTP port, twice —
// a baseline, then 15 s of growth — and the service graph and latency APIs answer with signal=prometheus:
// each call counted once, errors, mTLS and histogram percentiles inside their bucket. Then bodies that are
// not snappy, truncated protobuf, a wrong content type and an oversized body get their errors, and the
// next good request still works.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pushTimeseries, serialize } from 'prometheus-remote-write';
import snappy from 'snappyjs';
import type { PromSample } from '../../collector/prometheus/samples.ts';
import type { GraphEdge } from '../../query/service-graph.ts';
import { edgeCounts, getJson, graphEdgesUntil, ownMetric, startTestMeshlens, totalRequests, type TestMeshlens } from '../helpers/meshlens.ts';
import { ISTIO_BOOKINFO_EDGES, bookinfo, istioBookinfo, istioRequests, linkerdProductpage } from '../helpers/mesh-series.ts';

let meshlens: TestMeshlens;
let writeUrl: string;
before(async () => {
  meshlens = await startTestMeshlens({ overrides: { 'graph.flush_interval': '300ms', 'limits.max_body_bytes': '1MiB' } });
  writeUrl = `${meshlens.otlpHttpUrl}/api/v1/write`;
});
after(async () => {
  await meshlens.destroy();
});

/** The client's series shape. */
interface Timeseries {
  labels: { __name__: string; [name: string]: string };
  samples: Array<{ value: number; timestamp?: number }>;
}

/** Samples as remote-write series (one sample each), with the target labels Prometheus adds. */
function toTimeseries(samples: readonly PromSample[], timestampMs: number, target: (labels: PromSample['labels']) => Record<string, string>): Timeseries[] {
  return samples.map((s) => ({ labels: { __name__: s.name, ...s.labels, ...target(s.labels) }, samples: [{ value: s.value, timestamp: timestampMs }] }));
}

/** What Prometheus' kubernetes-pods job adds to an Istio sidecar's series: the pod that was scraped. */
const istioTarget = (labels: PromSample['labels']) => {
  const workload = labels.reporter === 'source' ? labels.source_workload : labels.destination_workload;
  return { job: 'kubernetes-pods', instance: `${workload}:15020`, pod: `${workload}-5d8f7b6c9d-x7k2p` };
};
const linkerdTarget = () => ({ job: 'linkerd-proxy', instance: '10.42.0.9:4191', namespace: 'linkerd-demo', pod: 'productpage-v1-6b746f74dc-9stvs' });

async function push(series: Timeseries[]): Promise<number> {
  const result = await pushTimeseries(series, { url: writeUrl, fetch: globalThis.fetch as unknown as NonNullable<Parameters<typeof pushTimeseries>[1]>['fetch'] });
  return result.status;
}

const post = (body: Uint8Array | string, headers: Record<string, string>) => fetch(writeUrl, { method: 'POST', headers, body });
const snappyHeaders = { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' };


describe('Prometheus remote-write (POST /api/v1/write on 4318)', () => {
  const t1 = Date.now();
  const t0 = t1 - 15_000;

  it('Istio series: the first push is a baseline, the second counts each call once', async () => {
    assert.equal(await push(toTimeseries(istioBookinfo(0), t0, istioTarget)), 204);
    assert.equal(await push(toTimeseries(istioBookinfo(1), t1, istioTarget)), 204);
    const edges = await graphEdgesUntil(meshlens.queryUrl, 'prometheus', 'bookinfo', (e) => totalRequests(e) === 252);
    assert.deepEqual(edgeCounts(edges), ISTIO_BOOKINFO_EDGES);
    const spans = (await getJson<{ edges: GraphEdge[] }>(`${meshlens.queryUrl}/api/v1/service-graph?signal=spans&start=${Date.now() - 600_000}`)).body.edges;
    assert.deepEqual(spans, [], 'remote-write edges are kept apart from span edges');
  });

  it('serves the interval latency from istio_request_duration_milliseconds, each percentile inside its bucket', async () => {
    const latency = (
      await getJson<{ count: number; p50Ms: number; p90Ms: number; p99Ms: number }>(
        `${meshlens.queryUrl}/api/v1/latency?source=bookinfo/productpage@v1&target=bookinfo/reviews@v2&signal=prometheus&start=${Date.now() - 600_000}`,
      )
    ).body;
    assert.equal(latency.count, 25, 'the source rows\' 25 calls of the interval; the destination rows\' histogram is not added');
    // Cumulative: ≤5 ms 10, ≤10 ms 20, ≤25 ms 25.
    for (const [name, actual, lower, upper] of [['p50', latency.p50Ms, 5, 10], ['p90', latency.p90Ms, 10, 25], ['p99', latency.p99Ms, 10, 25]] as const) {
      assert.ok(actual > lower && actual <= upper * 1.01, `${name} ${actual} ms is not in the (${lower}, ${upper}] ms bucket`);
    }
  });

  it('Linkerd series: outbound from the scraped pod to dst_*, inbound only for callers without identity', async () => {
    assert.equal(await push(toTimeseries(linkerdProductpage(0, {}, 'linkerd-demo'), t0, linkerdTarget)), 204);
    assert.equal(await push(toTimeseries(linkerdProductpage(1, {}, 'linkerd-demo'), t1, linkerdTarget)), 204);
    const edges = await graphEdgesUntil(meshlens.queryUrl, 'prometheus', 'linkerd-demo', (e) => totalRequests(e) === 91);
    assert.deepEqual(edgeCounts(edges), [
      { id: 'linkerd-demo/productpage-v1->linkerd-demo/details-v1', requests: 40, errors: 0, mtls: true, signals: ['prometheus'] },
      { id: 'linkerd-demo/productpage-v1->linkerd-demo/reviews-v1', requests: 30, errors: 0, mtls: true, signals: ['prometheus'] },
      { id: 'linkerd-demo/productpage-v1->linkerd-demo/reviews-v3', requests: 14, errors: 4, mtls: true, signals: ['prometheus'] },
      { id: 'unknown->linkerd-demo/productpage-v1', requests: 7, errors: 0, mtls: false, signals: ['prometheus'] },
    ]);
    const latency = (
      await getJson<{ count: number; p50Ms: number; p95Ms: number }>(
        `${meshlens.queryUrl}/api/v1/latency?source=linkerd-demo/productpage-v1&target=linkerd-demo/details-v1&signal=prometheus&start=${Date.now() - 600_000}`,
      )
    ).body;
    assert.equal(latency.count, 40);
    // Cumulative: ≤3 ms 10, ≤10 ms 35, ≤20 ms 40.
    assert.ok(latency.p50Ms > 5 && latency.p50Ms <= 10.1, `p50 ${latency.p50Ms}`);
    assert.ok(latency.p95Ms > 10 && latency.p95Ms <= 20.2, `p95 ${latency.p95Ms}`);
    const series = await ownMetric(meshlens.queryUrl, 'meshlens_remote_write_series_total');
    assert.ok((series.get('{result="received"}') ?? 0) > 0);
    assert.ok((series.get('{result="counted"}') ?? 0) > 0);
    assert.ok((series.get('{result="baseline"}') ?? 0) > 0);
  });

  it('refuses bad snappy, truncated protobuf, a wrong content type and an oversized body; the next push works', async () => {
    const bad = await ownMetric(meshlens.queryUrl, 'meshlens_bad_requests_total');
    const notSnappy = await post('this is not snappy at all', snappyHeaders);
    assert.equal(notSnappy.status, 400);
    assert.match(await notSnappy.text(), /^body is not snappy \(block format\): .+\n$/);

    const { productpage, details } = bookinfo;
    const one = toTimeseries(istioRequests([{ source: productpage, destination: details, code: 200, total: 5 }]), Date.now(), istioTarget);
    const encoded = new Uint8Array(
      await serialize({ timeseries: one.map((t) => ({ labels: Object.entries(t.labels).map(([name, value]) => ({ name, value })), samples: t.samples })) } as unknown as Parameters<typeof serialize>[0]),
    );
    const truncated = await post(snappy.compress(encoded.subarray(0, encoded.length - 7)), snappyHeaders);
    assert.equal(truncated.status, 400);
    assert.match(await truncated.text(), /^body is not a prometheus\.WriteRequest \(remote-write 1\.0\): .+\n$/);

    const json = await post(snappy.compress(encoded), { ...snappyHeaders, 'content-type': 'application/json' });
    assert.equal(json.status, 415);
    assert.match(await json.text(), /^unsupported content type "application\/json"; remote-write sends application\/x-protobuf\n$/);
    // Remote-write 2.0 is accepted (test/integration/remote-write-v2.test.ts); a message no version defines is not.
    const unknownMessage = await post(snappy.compress(encoded), { ...snappyHeaders, 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v3.Request' });
    assert.equal(unknownMessage.status, 415);
    const { 'content-type': _, ...withoutType } = snappyHeaders;
    const untyped = await post(snappy.compress(encoded), withoutType);
    assert.equal(untyped.status, 415, await untyped.text());

    // The snappy header declares 64 MiB (over limits.max_body_bytes = 1 MiB): refused before inflating.
    const huge = await post(Buffer.concat([Buffer.from([0x80, 0x80, 0x80, 0x20]), Buffer.alloc(16)]), snappyHeaders);
    assert.equal(huge.status, 413);
    assert.match(await huge.text(), /over limits\.max_body_bytes/);
    const tooLong = await post(Buffer.alloc(1024 * 1024 + 10), snappyHeaders);
    assert.equal(tooLong.status, 413);

    const after = await ownMetric(meshlens.queryUrl, 'meshlens_bad_requests_total');
    const delta = (reason: string) => (after.get(`{receiver="remote-write",reason="${reason}"}`) ?? 0) - (bad.get(`{receiver="remote-write",reason="${reason}"}`) ?? 0);
    assert.deepEqual({ decode: delta('decode'), media_type: delta('media_type'), too_large: delta('too_large') }, { decode: 2, media_type: 3, too_large: 2 });

    // Still serving: a good request right after.
    const good = await post(snappy.compress(encoded), snappyHeaders);
    assert.equal(good.status, 204);
    assert.equal(await good.text(), '');
  });
});
