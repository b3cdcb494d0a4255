// Envoy upstream cluster stats → edge increments, with the stat sets each mesh's sidecars really report.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeId } from '../service-graph/halves.ts';
import type { NodeRef } from '../service-graph/halves.ts';
import { LatencyHistogram, foldPrometheusHistogram } from '../service-graph/histogram.ts';
import { ClusterStatsFlush, parseClusterStat } from './cluster-stats.ts';

const productpage: NodeRef = { kind: 'service', name: 'productpage', namespace: 'bookinfo', version: 'v1' };
const T = 1_764_000_000_000_000_000n;

type Counter = [name: string, increase: number | null, labels?: Record<string, string>];

function edges(counters: Counter[], latencies: Array<[string, LatencyHistogram, Record<string, string>?]> = [], hints = {}) {
  const flush = new ClusterStatsFlush(productpage, hints);
  for (const [name, increase, labels] of counters) flush.addCounter(name, labels ?? {}, increase);
  for (const [name, latency, labels] of latencies) flush.addLatency(name, labels ?? {}, latency);
  return flush.toIncrements(T).map((e) => ({ to: nodeId(e.target), kind: e.target.kind, requests: e.requests, errors: e.errors, latency: e.latency?.count ?? null }));
}

const ms = (...values: number[]) => {
  const h = new LatencyHistogram();
  for (const v of values) h.add(v);
  return h;
};

describe('parseClusterStat', () => {
  it('reads dotted names, with dots and Istio ; inside the cluster, and the StatsD prefix', () => {
    assert.deepEqual(parseClusterStat('cluster.outbound|9080||reviews.bookinfo.svc.cluster.local;.upstream_rq_503'), {
      cluster: 'outbound|9080||reviews.bookinfo.svc.cluster.local;', family: 'code', code: 503,
    });
    assert.deepEqual(parseClusterStat('cluster.outbound|9080||reviews.bookinfo.svc.cluster.local.upstream_rq_2xx'), {
      cluster: 'outbound|9080||reviews.bookinfo.svc.cluster.local', family: 'class', codeClass: 2,
    });
    assert.deepEqual(parseClusterStat('envoy.cluster.backend_kuma-demo_svc_3001.upstream_rq_total'), { cluster: 'backend_kuma-demo_svc_3001', family: 'total' });
    assert.deepEqual(parseClusterStat('cluster.cds_egress_bookinfo_details_http_9080.upstream_rq_time'), { cluster: 'cds_egress_bookinfo_details_http_9080', family: 'time' });
  });

  it('reads the tag-extracted forms, putting back what the default extraction left in the name', () => {
    assert.deepEqual(parseClusterStat('cluster.upstream_rq', { 'envoy.cluster_name': 'backend', 'envoy.response_code': '200' }), { cluster: 'backend', family: 'code', code: 200 });
    assert.deepEqual(parseClusterStat('cluster.upstream_rq_xx', { 'envoy.cluster_name': 'backend', 'envoy.response_code_class': '5' }), { cluster: 'backend', family: 'class', codeClass: 5 });
    assert.deepEqual(parseClusterStat('cluster.upstream_rq', { 'envoy.cluster_name': 'backend', 'envoy.response_code_class': '4' }), { cluster: 'backend', family: 'class', codeClass: 4 });
    assert.deepEqual(parseClusterStat('envoy_cluster_upstream_rq', { envoy_cluster_name: 'backend', envoy_response_code: '404' }), { cluster: 'backend', family: 'code', code: 404 });
    assert.deepEqual(parseClusterStat('envoy_cluster_upstream_rq_time', { envoy_cluster_name: 'backend' }), { cluster: 'backend', family: 'time' });
    // Consul cluster names have dots; `^cluster\.((.*?)\.)` took only the first label.
    assert.deepEqual(parseClusterStat('cluster.default.dc1.internal.td.consul.upstream_rq', { 'envoy.cluster_name': 'reviews', 'envoy.response_code': '200' }), {
      cluster: 'reviews.default.dc1.internal.td.consul', family: 'code', code: 200,
    });
  });

  it('skips the sub-breakdowns that count the same requests again, and every other stat', () => {
    for (const name of [
      'cluster.backend.internal.upstream_rq_200',
      'cluster.backend.external.upstream_rq_2xx',
      'cluster.backend.canary.upstream_rq_time',
      'cluster.backend.zone.us-east-1a.us-east-1b.upstream_rq_200',
      'cluster.outbound|9080||reviews.bookinfo.svc.cluster.local;.internal.upstream_rq_200',
      'cluster.backend.upstream_rq_retry',
      'cluster.backend.upstream_rq_timeout',
      'cluster.backend.upstream_rq_completed',
      'cluster.backend.upstream_rq_pending_total',
      'cluster.backend.upstream_cx_total',
      'http.inbound_0.0.0.0_9080.downstream_rq_2xx',
      'server.uptime',
    ]) {
      assert.equal(parseClusterStat(name), null, name);
    }
    assert.equal(parseClusterStat('cluster.internal.upstream_rq', { 'envoy.cluster_name': 'backend', 'envoy.response_code': '200' }), null);
    assert.equal(parseClusterStat('cluster.upstream_rq', { 'envoy.cluster_name': 'backend' }), null, 'no code, no class');
  });
});

describe('ClusterStatsFlush', () => {
  it('Istio (bookinfo productpage sidecar): per-code counts, errors = 5xx, latency; inbound and pass-through are no edges', () => {
    const reviews = 'cluster.outbound|9080||reviews.bookinfo.svc.cluster.local;';
    const details = 'cluster.outbound|9080||details.bookinfo.svc.cluster.local;';
    const result = edges(
      [
        [`${reviews}.upstream_rq_total`, 60],
        [`${reviews}.upstream_rq_200`, 50],
        [`${reviews}.upstream_rq_503`, 8],
        [`${reviews}.upstream_rq_504`, 2],
        [`${reviews}.upstream_rq_2xx`, 50],
        [`${reviews}.upstream_rq_5xx`, 10],
        [`${reviews}.internal.upstream_rq_200`, 50],
        [`${details}.upstream_rq_200`, 60],
        [`${details}.upstream_rq_2xx`, 60],
        [`${details}.upstream_rq_total`, 60],
        ['cluster.inbound|9080||;.upstream_rq_200', 60],
        ['cluster.PassthroughCluster.upstream_rq_200', 3],
        ['cluster.xds-grpc.upstream_rq_200', 1],
      ],
      [[`${reviews}.upstream_rq_time`, ms(5, 12, 30)]],
    );
    assert.deepEqual(result, [
      { to: 'bookinfo/reviews', kind: 'service', requests: 60, errors: 10, latency: 3 },
      { to: 'bookinfo/details', kind: 'service', requests: 60, errors: 0, latency: null },
    ]);
  });

  it('Istio with emit_tags_as_labels and a subset cluster', () => {
    const labels = (code: string) => ({ 'envoy.cluster_name': 'outbound|9080|v2|reviews.bookinfo.svc.cluster.local', 'envoy.response_code': code });
    const result = edges([
      ['cluster.upstream_rq', 40, labels('200')],
      ['cluster.upstream_rq', 5, labels('500')],
      ['cluster.upstream_rq_xx', 40, { 'envoy.cluster_name': 'outbound|9080|v2|reviews.bookinfo.svc.cluster.local', 'envoy.response_code_class': '2' }],
      ['cluster.upstream_rq_total', 45, { 'envoy.cluster_name': 'outbound|9080|v2|reviews.bookinfo.svc.cluster.local' }],
    ]);
    assert.deepEqual(result, [{ to: 'bookinfo/reviews@v2', kind: 'service', requests: 45, errors: 5, latency: null }]);
  });

  it('Consul: dotted cluster names, per-class counts when there are no per-code ones', () => {
    const ratings = 'cluster.ratings.default.dc1.internal.11111111-2222-3333-4444-555555555555.consul';
    const result = edges([
      [`${ratings}.upstream_rq_2xx`, 30],
      [`${ratings}.upstream_rq_5xx`, 4],
      [`${ratings}.upstream_rq_total`, 35],
      ['cluster.local_app.upstream_rq_2xx', 34],
    ]);
    assert.deepEqual(result, [{ to: 'default/ratings', kind: 'service', requests: 34, errors: 4, latency: null }]);
  });

  it('App Mesh: upstream_rq_total alone counts requests with no errors known; the mesh name hint', () => {
    const result = edges(
      [
        ['cluster.cds_egress_my_mesh_colorteller-blue_howto-k8s_http_8080.upstream_rq_total', 12],
        ['cluster.cds_ingress_my_mesh_colorgateway_http_9080.upstream_rq_total', 12],
        ['cluster.cds_egress_my_mesh_amazonaws.upstream_rq_total', 2],
      ],
      [['cluster.cds_egress_my_mesh_colorteller-blue_howto-k8s_http_8080.upstream_rq_time', ms(3, 4)]],
      { appMeshName: 'my_mesh' },
    );
    assert.deepEqual(result, [{ to: 'howto-k8s/colorteller-blue', kind: 'service', requests: 12, errors: 0, latency: 2 }]);
  });

  it('Kuma legacy and kri clusters, and an external host as a virtual node', () => {
    const result = edges([
      ['cluster.backend_kuma-demo_svc_3001.upstream_rq_200', 9],
      ['cluster.backend_kuma-demo_svc_3001.upstream_rq_502', 1],
      ['cluster.kri_msvc_default_zone-1_kuma-demo_redis_6379.upstream_rq_total', 4],
      ['cluster.outbound|443||api.github.com;.upstream_rq_200', 2],
    ]);
    assert.deepEqual(result, [
      { to: 'kuma-demo/backend', kind: 'service', requests: 10, errors: 1, latency: null },
      { to: 'kuma-demo/redis', kind: 'service', requests: 4, errors: 0, latency: null },
      { to: 'api.github.com', kind: 'virtual', requests: 2, errors: 0, latency: null },
    ]);
  });

  it('a family whose increases are all unknown (baselines) gives no edge and no fallback to another family', () => {
    const reviews = 'cluster.outbound|9080||reviews.bookinfo.svc.cluster.local;';
    assert.deepEqual(edges([[`${reviews}.upstream_rq_200`, null], [`${reviews}.upstream_rq_total`, 7]], [[`${reviews}.upstream_rq_time`, ms(5)]]), []);
    assert.deepEqual(edges([[`${reviews}.upstream_rq_200`, null], [`${reviews}.upstream_rq_503`, 2]]), [
      { to: 'bookinfo/reviews', kind: 'service', requests: 2, errors: 2, latency: null },
    ], 'the known part of the family counts');
  });

  it('a quiet interval is an edge with zero requests, so the pair stays visible', () => {
    assert.deepEqual(edges([['cluster.backend_kuma-demo_svc_3001.upstream_rq_200', 0]]), [
      { to: 'kuma-demo/backend', kind: 'service', requests: 0, errors: 0, latency: null },
    ]);
  });

  it('latencies from Prometheus-style buckets keep their bucket', () => {
    const latency = foldPrometheusHistogram([{ le: 25, cumulativeCount: 4 }, { le: 50, cumulativeCount: 10 }, { le: Infinity, cumulativeCount: 10 }], 1);
    const flush = new ClusterStatsFlush(productpage);
    flush.addCounter('cluster.backend_kuma-demo_svc_3001.upstream_rq_200', {}, 10);
    assert.equal(flush.addLatency('cluster.backend_kuma-demo_svc_3001.upstream_rq_time', {}, latency), true);
    assert.equal(flush.addLatency('cluster.backend_kuma-demo_svc_3001.upstream_rq_200', {}, latency), false, 'not a latency stat');
    const [edge] = flush.toIncrements(T);
    const p90 = edge!.latency!.quantile(0.9)!;
    assert.ok(p90 > 25 && p90 <= 50.5, `p90 ${p90} lies in the (25, 50] bucket`);
    assert.equal(edge!.source, productpage);
    assert.equal(edge!.timeUnixNano, T);
  });
});
