// OTLP proxy metrics → edge increments: restarts, staleness markers, and the proxy's own resource labels.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OtlpMetricEdges } from './metric-edges.ts';
import { type MetricPoint, Temporality } from './metrics.ts';

const SECOND = 1_000_000_000n;
const T0 = 1_764_140_000n * SECOND;

function upstreamRq(code: string, value: number, at: bigint, extra: Partial<MetricPoint> = {}): MetricPoint {
  return {
    timeUnixNano: at, startTimeUnixNano: T0 - 3600n * SECOND, name: 'cluster.upstream_rq', type: 'sum', unit: '', temporality: Temporality.Cumulative,
    monotonic: true, attributes: { 'envoy.cluster_name': 'backend_shop_svc_80', 'envoy.response_code': code },
    // Envoy's own resource attributes: cluster_name is the proxy's node cluster, not an upstream one.
    resourceAttributes: { cluster_name: 'web.shop', node_name: 'sidecar~10.0.0.1~web-5d8f7c9b6d-x2k4p.shop~shop.svc.cluster.local' },
    service: 'unknown_service', namespace: '', scopeName: '', value, count: 0, sum: 0, bounds: [], bucketCounts: [], quantiles: [], quantileValues: [], flags: 0,
    ...extra,
  };
}

describe('OtlpMetricEdges', () => {
  it('counts the increase after a baseline, and the whole value after a restart', () => {
    const edges = new OtlpMetricEdges();
    assert.deepEqual(edges.derive([upstreamRq('200', 50, T0), upstreamRq('500', 2, T0)]), []);
    const [second] = edges.derive([upstreamRq('200', 60, T0 + 10n * SECOND), upstreamRq('500', 3, T0 + 10n * SECOND)]);
    assert.deepEqual(second && [second.source, second.target, second.requests, second.errors], [
      { kind: 'service', name: 'web', namespace: 'shop' },
      { kind: 'service', name: 'backend', namespace: 'shop' },
      11,
      1,
    ]);
    // The proxy restarted: its counters began again from 0.
    const [third] = edges.derive([upstreamRq('200', 4, T0 + 20n * SECOND), upstreamRq('500', 0, T0 + 20n * SECOND)]);
    assert.deepEqual(third && [third.requests, third.errors], [4, 0]);
  });

  it('ignores staleness markers and gauges', () => {
    const edges = new OtlpMetricEdges();
    const delta = { temporality: Temporality.Delta } as const;
    assert.deepEqual(edges.derive([upstreamRq('200', 5, T0, { ...delta, flags: 1 }), upstreamRq('200', 5, T0, { ...delta, type: 'gauge' })]), []);
    const [counted] = edges.derive([upstreamRq('200', 5, T0, delta)]);
    assert.equal(counted?.requests, 5);
  });

  it('takes latencies from exponential histograms as from explicit ones', () => {
    const edges = new OtlpMetricEdges();
    const delta = { temporality: Temporality.Delta } as const;
    // Scale 0 (base 2), offset 3: 10 calls in (8, 16] ms and 5 in (32, 64] ms, on the explicit bounds metrics.ts makes.
    const latency = upstreamRq('', 0, T0, {
      ...delta, name: 'cluster.upstream_rq_time', type: 'exponential_histogram', unit: 'ms', attributes: { 'envoy.cluster_name': 'backend_shop_svc_80' },
      count: 15, sum: 400, bounds: [8, 16, 32, 64], bucketCounts: [0, 10, 0, 5, 0],
    });
    const [edge] = edges.derive([upstreamRq('200', 15, T0, delta), latency]);
    assert.equal(edge?.requests, 15);
    assert.equal(edge?.latency?.count, 15);
    const p50 = edge?.latency?.quantile(0.5) ?? 0;
    assert.ok(p50 > 8 && p50 <= 16 * 1.01, `p50 ${p50} ms lies in its bucket (8, 16], within the histogram's 1 %`);
    const p90 = edge?.latency?.quantile(0.9) ?? 0;
    assert.ok(p90 > 32 && p90 <= 64 * 1.01, `p90 ${p90} ms lies in its bucket (32, 64]`);
  });
});
