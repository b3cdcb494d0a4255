// One Istio workload is one node, whichever signal reports it. Istio's spans name a workload by canonical
// service + revision (reviews, v2), its metrics and access logs carry the workload name too (reviews-v2):
// meshlens names every Istio node the spans' way, so the same calls seen by spans (Zipkin, as Envoy sends
// them), by scraped metrics (remote-write) and by access logs (Envoy ALS) meet on one edge, counted once.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pushTimeseries } from 'prometheus-remote-write';
import type { GraphEdge } from '../../query/service-graph.ts';
import { httpEntry, identifier, outboundCluster, productpage as productpageProxy, reviews as reviewsProxy } from '../helpers/envoy-als.ts';
import { type EnvoyStreamClient, envoyStreamClient } from '../helpers/envoy-client.ts';
import { bookinfo, istioRequests } from '../helpers/mesh-series.ts';
import { getJson, graphEdgesUntil, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';

let meshlens: TestMeshlens;
let als: EnvoyStreamClient;
before(async () => {
  meshlens = await startTestMeshlens({ overrides: { 'graph.flush_interval': '300ms', 'graph.wait': '1s' } });
  als = envoyStreamClient(meshlens.otlpGrpcAddress, 'envoy/service/accesslog/v3/als.proto', 'envoy.service.accesslog.v3.AccessLogService', 'StreamAccessLogs');
});
after(async () => {
  als.close();
  await meshlens.destroy();
});

const CALLS = 5;
const T0 = Date.now() - 60_000;
const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

/** A call as Istio's Envoy Zipkin tracer reports it: a CLIENT span at the caller, a SERVER child at the callee. */
function zipkinCall(i: number): object[] {
  const traceId = hex(0xa000 + i, 32);
  const clientId = hex(0x100 + i, 16);
  const timestamp = (T0 + i * 1000) * 1000;
  const istioTags = (service: string, revision: string) => ({ 'istio.canonical_service': service, 'istio.canonical_revision': revision, 'istio.namespace': 'bookinfo' });
  return [
    {
      traceId, id: clientId, kind: 'CLIENT', name: 'reviews.bookinfo.svc.cluster.local:9080/*', timestamp, duration: 12_000,
      localEndpoint: { serviceName: 'productpage.bookinfo', ipv4: '10.1.0.5' },
      tags: { ...istioTags('productpage', 'v1'), 'http.status_code': '200', upstream_cluster: 'outbound|9080||reviews.bookinfo.svc.cluster.local' },
    },
    {
      traceId, id: hex(0x200 + i, 16), parentId: clientId, kind: 'SERVER', name: 'reviews.bookinfo.svc.cluster.local:9080/*', timestamp: timestamp + 500, duration: 10_000,
      localEndpoint: { serviceName: 'reviews.bookinfo', ipv4: '10.1.0.8' },
      tags: { ...istioTags('reviews', 'v2'), 'http.status_code': '200' },
    },
  ];
}

/** istio_requests_total for productpage-v1 → reviews-v2 as a Prometheus server forwards it. */
function istioSeries(total: number, timestamp: number) {
  return istioRequests([{ source: bookinfo.productpage, destination: bookinfo.reviewsV2, code: 200, total }]).map((s) => ({
    labels: { __name__: s.name, ...s.labels, job: 'kubernetes-pods' },
    samples: [{ value: s.value, timestamp }],
  }));
}

const summary = (edges: GraphEdge[]) => edges.map((e) => ({ id: e.id, requests: e.requests, signals: e.signals }));

describe('Istio workload identity across signals', () => {
  it('spans, metrics and access logs of the same calls give one edge between two nodes, each call counted once', async () => {
    // Spans.
    const spans = Array.from({ length: CALLS }, (_, i) => zipkinCall(i)).flat();
    const zipkin = await fetch(`${meshlens.zipkinUrl}/api/v2/spans`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spans) });
    assert.equal(zipkin.status, 202);
    // Metrics: a baseline, then the same calls as an increase.
    const push = async (total: number, timestamp: number) => {
      const result = await pushTimeseries(istioSeries(total, timestamp), {
        url: `${meshlens.otlpHttpUrl}/api/v1/write`,
        fetch: globalThis.fetch as unknown as NonNullable<Parameters<typeof pushTimeseries>[1]>['fetch'],
      });
      assert.equal(result.status, 204);
    };
    await push(1_000, Date.now() - 15_000);
    await push(1_000 + CALLS, Date.now());
    // Access logs from productpage's sidecar (its node metadata names the workload productpage-v1).
    await als.stream([
      {
        identifier: identifier(productpageProxy),
        http_logs: {
          log_entry: Array.from({ length: CALLS }, (_, i) =>
            httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0 + i * 1000, durationMs: 12, code: 200, upstreamPeer: reviewsProxy('v2') }),
          ),
        },
      },
    ]);

    const edges = await graphEdgesUntil(meshlens.queryUrl, 'all', 'bookinfo', (found) => found[0]?.signals.length === 3);
    assert.deepEqual(summary(edges), [{ id: 'bookinfo/productpage@v1->bookinfo/reviews@v2', requests: CALLS, signals: ['envoy-als', 'prometheus', 'spans'] }]);
    const nodes = (await getJson<{ nodes: Array<{ id: string; name: string; version?: string }> }>(`${meshlens.queryUrl}/api/v1/service-graph?namespace=bookinfo&start=${Date.now() - 600_000}`)).body.nodes;
    assert.deepEqual(
      nodes.map((n) => [n.id, n.name, n.version]),
      [
        ['bookinfo/productpage@v1', 'productpage', 'v1'],
        ['bookinfo/reviews@v2', 'reviews', 'v2'],
      ],
    );
  });
});
