// Access-log records → edge samples: each supported shape, the count-once rule, and what is not an access log.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accessLogSample, parseTextBody } from './access-log-edges.ts';
import type { LogRecordRow } from './logs.ts';

function record(fields: Partial<LogRecordRow>): LogRecordRow {
  return {
    timeUnixNano: 1_764_140_000_000_000_000n, observedTimeUnixNano: 1_764_140_000_000_000_000n, traceId: '', spanId: '', flags: 0,
    severityNumber: 0, severityText: '', body: '', structuredBody: null, eventName: '', attributes: {}, resourceAttributes: {},
    service: 'unknown_service', namespace: '', scopeName: '', ...fields,
  };
}

const ISTIO_PROXY = {
  resourceAttributes: { cluster_name: 'productpage.bookinfo', node_name: 'sidecar~10.1.2.3~productpage-v1-6b746f74dc-9stvs.bookinfo~bookinfo.svc.cluster.local' },
};

describe('accessLogSample', () => {
  it('reads Envoy default-format bodies: the :authority host is the destination', () => {
    const body = '[2026-11-26T09:00:00.000Z] "GET /status/418 HTTP/1.1" 502 UF 0 91 33 - "-" "curl/8.5.0" "e1c3" "httpbin.default.svc.cluster.local:8000" "10.1.1.9:80"';
    const sample = accessLogSample(record({ ...ISTIO_PROXY, body }));
    assert.deepEqual(
      sample && [sample.source, sample.target, sample.error, sample.latencyNanos, sample.protocol, sample.requestBytes, sample.responseBytes],
      [{ kind: 'service', name: 'productpage-v1', namespace: 'bookinfo' }, { kind: 'service', name: 'httpbin', namespace: 'default' }, true, 33e6, 'http', 0, 91],
    );
  });

  it('reads Kuma default TCP bodies', () => {
    const body = '[2026-11-26T09:00:00.000Z] - default 10.0.0.9(frontend_kuma-demo_svc_8080)->10.0.0.12:5432(postgres_kuma-demo_svc_5432) took 120ms, sent 990 bytes, received: 1200 bytes';
    const sample = accessLogSample(record({ body }));
    assert.deepEqual(
      sample && [sample.source, sample.target, sample.protocol, sample.latencyNanos, sample.requestBytes, sample.responseBytes],
      [{ kind: 'service', name: 'frontend', namespace: 'kuma-demo' }, { kind: 'service', name: 'postgres', namespace: 'kuma-demo' }, 'tcp', 120e6, 1200, 990],
    );
  });

  it('takes the destination from Istio upstream_peer metadata, with its version', () => {
    const upstreamPeer = JSON.stringify({ type: 'deployment', workload: 'reviews-v2', namespace: 'bookinfo', version: 'v2', app: 'reviews' });
    const sample = accessLogSample(record({ ...ISTIO_PROXY, attributes: { upstream_cluster: 'outbound|9080||reviews.bookinfo.svc.cluster.local', upstream_peer: upstreamPeer, response_code: '404' } }));
    assert.deepEqual(sample && [sample.target, sample.error], [{ kind: 'service', name: 'reviews-v2', namespace: 'bookinfo', version: 'v2' }, false]);
  });

  it('reads a structured (key/value) body like attributes', () => {
    const sample = accessLogSample(record({ ...ISTIO_PROXY, structuredBody: { upstream_cluster: 'outbound|80||httpbin.org', response_code: 200, duration: 8 } }));
    assert.deepEqual(sample && [sample.target, sample.latencyNanos], [{ kind: 'virtual', name: 'httpbin.org', namespace: '' }, 8e6]);
  });

  it('skips inbound Kuma entries from a known service when the direction is logged', () => {
    const attributes = { KUMA_SOURCE_SERVICE: 'frontend_kuma-demo_svc_8080', KUMA_DESTINATION_SERVICE: 'backend_kuma-demo_svc_3001', KUMA_TRAFFIC_DIRECTION: 'INBOUND' };
    assert.equal(accessLogSample(record({ attributes })), null);
    assert.notEqual(accessLogSample(record({ attributes: { ...attributes, KUMA_TRAFFIC_DIRECTION: 'OUTBOUND' } })), null);
  });

  it('draws no edge for pass-through clusters, application logs or unknown formats', () => {
    assert.equal(accessLogSample(record({ ...ISTIO_PROXY, attributes: { upstream_cluster: 'PassthroughCluster', response_code: '200' } })), null);
    assert.equal(accessLogSample(record({ ...ISTIO_PROXY, body: 'user 42 logged in' })), null);
    assert.equal(accessLogSample(record({ ...ISTIO_PROXY, body: '[INFO] starting server on :8080' })), null);
    assert.deepEqual(parseTextBody('[2026-11-26T09:00:00Z] something else entirely'), {});
  });
});
