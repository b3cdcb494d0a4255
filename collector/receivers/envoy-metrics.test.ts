// The metrics-service conversion on decoded messages (as proto-loader hands them over): tag-extracted
// stats, per-pod series, and what a counter new on a later flush means. The wire is in
// test/integration/envoy-metrics.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeId } from '../service-graph/halves.ts';
import { EnvoyMetricsConverter, metricsServiceProtos } from './envoy-metrics.ts';

const node = (pod: string) => ({ id: `sidecar~10.0.0.1~${pod}.shop~shop.svc.cluster.local`, cluster: 'frontend.shop', metadata: null });
const counter = (name: string, value: number, labels: Record<string, string> = {}) => ({
  name,
  type: 'COUNTER',
  metric: [{ label: Object.entries(labels).map(([n, v]) => ({ name: n, value: v })), counter: { value }, histogram: null, timestamp_ms: 0 }],
});
const T = Date.now();
const summarise = (converted: ReturnType<EnvoyMetricsConverter['convert']>) => converted.increments.map((e) => `${nodeId(e.source)}->${nodeId(e.target)} ${e.requests}/${e.errors}`);

describe('EnvoyMetricsConverter', () => {
  it('reads emit_tags_as_labels flushes (Kuma legacy cluster names)', () => {
    const converter = new EnvoyMetricsConverter();
    const stream = converter.startStream(node('frontend-5d8f7b6c9d-abcde'));
    const flush = (ok: number, failed: number) => [
      counter('cluster.upstream_rq', ok, { 'envoy.cluster_name': 'backend_kuma-demo_svc_3001', 'envoy.response_code': '200' }),
      counter('cluster.upstream_rq', failed, { 'envoy.cluster_name': 'backend_kuma-demo_svc_3001', 'envoy.response_code': '502' }),
      counter('cluster.upstream_rq_xx', ok, { 'envoy.cluster_name': 'backend_kuma-demo_svc_3001', 'envoy.response_code_class': '2' }),
    ];
    assert.deepEqual(summarise(converter.convert(stream, flush(100, 5), T)), []);
    const second = converter.convert(stream, flush(130, 6), T + 5000);
    assert.deepEqual(summarise(second), ['shop/frontend->kuma-demo/backend 31/1']);
    assert.deepEqual([second.counted, second.baselines, second.resets], [3, 0, 0]);
  });

  it('keeps two pods of one workload apart, and counts a counter new on a later flush whole', () => {
    const converter = new EnvoyMetricsConverter();
    const a = converter.startStream(node('frontend-5d8f7b6c9d-aaaaa'));
    const b = converter.startStream(node('frontend-5d8f7b6c9d-bbbbb'));
    const stat = 'cluster.backend_kuma-demo_svc_3001.upstream_rq_200';
    converter.convert(a, [counter(stat, 100)], T);
    converter.convert(b, [counter(stat, 7)], T);
    assert.deepEqual(summarise(converter.convert(a, [counter(stat, 110)], T + 5000)), ['shop/frontend->kuma-demo/backend 10/0'], 'not a reset against pod b');
    assert.deepEqual(
      summarise(converter.convert(b, [counter(stat, 9), counter('cluster.backend_kuma-demo_svc_3001.upstream_rq_503', 4)], T + 5000)),
      ['shop/frontend->kuma-demo/backend 6/4'],
    );
  });

  it('App Mesh: the mesh name in the node id tells where it ends in cluster names (mesh names may hold _)', () => {
    const converter = new EnvoyMetricsConverter();
    const stream = converter.startStream({ id: 'mesh/my_mesh/virtualNode/colorgateway_howto-k8s', cluster: 'mesh/my_mesh/virtualNode/colorgateway_howto-k8s', metadata: null });
    const stat = 'cluster.cds_egress_my_mesh_colorteller-blue_howto-k8s_http_8080.upstream_rq_total';
    converter.convert(stream, [counter(stat, 10)], T);
    const [edge] = converter.convert(stream, [counter(stat, 15)], T + 5000).increments;
    assert.deepEqual([edge?.target.name, edge?.target.namespace, edge?.requests], ['colorteller-blue', 'howto-k8s', 5]);
    assert.deepEqual(edge?.source, { kind: 'service', name: 'colorgateway', namespace: 'howto-k8s' }, 'the proxy is named as egress clusters name it');
  });

  it('App Mesh outside Kubernetes: virtual nodes live in the mesh\'s namespace, on both ends', () => {
    const converter = new EnvoyMetricsConverter();
    const stream = converter.startStream({ id: 'mesh/bookinfo/virtualNode/productpage', cluster: 'mesh/bookinfo/virtualNode/productpage', metadata: null });
    const stat = 'cluster.cds_egress_bookinfo_reviews_http_9080.upstream_rq_200';
    converter.convert(stream, [counter(stat, 1)], T);
    const [edge] = converter.convert(stream, [counter(stat, 4)], T + 5000).increments;
    assert.deepEqual([edge?.source, edge?.target, edge?.requests], [
      { kind: 'service', name: 'productpage', namespace: 'bookinfo' },
      { kind: 'service', name: 'reviews', namespace: 'bookinfo' },
      3,
    ]);
  });

  it('report_counters_as_deltas: every flush\'s counters are its own increases, the first one too', () => {
    const converter = new EnvoyMetricsConverter({}, true);
    const stream = converter.startStream({ id: 'mesh/bookinfo/virtualNode/productpage', cluster: '', metadata: null });
    const ok = 'cluster.cds_egress_bookinfo_reviews_http_9080.upstream_rq_200';
    const failed = 'cluster.cds_egress_bookinfo_reviews_http_9080.upstream_rq_503';
    const flush = (okCount: number, failedCount: number, at: number) => {
      const [edge] = converter.convert(stream, [counter(ok, okCount), counter(failed, failedCount)], at).increments;
      return [edge?.requests, edge?.errors];
    };
    assert.deepEqual(flush(7, 1, T), [8, 1]);
    // A smaller value is not a restart here: it is simply a quieter interval.
    assert.deepEqual(flush(3, 0, T + 5000), [3, 0]);
  });

  it('loads Envoy\'s metrics-service protos with our io.prometheus.client', () => {
    const { definition } = metricsServiceProtos();
    assert.ok(definition['envoy.service.metrics.v3.MetricsService']);
    assert.ok(definition['io.prometheus.client.MetricFamily']);
  });
});
