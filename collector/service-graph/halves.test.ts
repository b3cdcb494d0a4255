// toHalf on its own: every field a half carries, from hand-built spans.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpanKind, StatusCode } from '../model.ts';
import { type NodeRef, nodeId, parseUpstreamCluster, thresholdWeight, toHalf } from './halves.ts';
import { MS, T0, span, spanId, traceId } from './spans-for-tests.ts';

function clientPeer(attributes: Record<string, string | number>): NodeRef | null {
  return toHalf(span({ id: 'a', kind: SpanKind.Client, service: 'caller', durationMs: 1, attributes })).peer;
}

function serverPeer(attributes: Record<string, string | number>): NodeRef | null {
  return toHalf(span({ id: 'a', kind: SpanKind.Server, service: 'callee', durationMs: 1, attributes })).peer;
}

describe('toHalf identity and timing', () => {
  it('copies ids, kind, start; duration in ns as a number', () => {
    const half = toHalf(span({ trace: 'abc', id: 'b2', parent: 'a1', kind: SpanKind.Server, service: 'cart', namespace: 'shop', startMs: 5, durationMs: 12.5 }));
    assert.equal(half.traceId, traceId('abc'));
    assert.equal(half.spanId, spanId('b2'));
    assert.equal(half.parentSpanId, spanId('a1'));
    assert.equal(half.kind, 'server');
    assert.equal(half.startTimeUnixNano, T0 + 5n * MS);
    assert.equal(half.durationNanos, 12_500_000);
    assert.deepEqual(half.self, { kind: 'service', name: 'cart', namespace: 'shop' });
  });

  it('maps every span kind; unspecified counts as internal', () => {
    const kinds = [SpanKind.Unspecified, SpanKind.Internal, SpanKind.Server, SpanKind.Client, SpanKind.Producer, SpanKind.Consumer];
    assert.deepEqual(
      kinds.map((kind) => toHalf(span({ id: 'a', kind, service: 's', durationMs: 1 })).kind),
      ['internal', 'internal', 'server', 'client', 'producer', 'consumer'],
    );
  });

  it('a span ending before it starts has duration 0, not a negative one', () => {
    const record = span({ id: 'a', kind: SpanKind.Client, service: 's', durationMs: 1 });
    record.endTimeUnixNano = record.startTimeUnixNano - 5n;
    assert.equal(toHalf(record).durationNanos, 0);
  });

  it('takes the version from service.version, else from k8s version labels', () => {
    const fromService = toHalf(span({ id: 'a', kind: SpanKind.Server, service: 'reviews', namespace: 'bookinfo', durationMs: 1, resourceAttributes: { 'service.version': 'v3' } }));
    assert.deepEqual(fromService.self, { kind: 'service', name: 'reviews', namespace: 'bookinfo', version: 'v3' });
    const fromLabel = toHalf(span({ id: 'a', kind: SpanKind.Server, service: 'reviews', namespace: 'bookinfo', durationMs: 1, resourceAttributes: { 'k8s.pod.label.version': 'v2' } }));
    assert.equal(fromLabel.self.version, 'v2');
  });
});

describe('bytes a span states', () => {
  it('reads OTel body sizes, the older content-length names and Envoy’s request_size; absent stays absent', () => {
    const half = (attributes: Record<string, string | number>) => toHalf(span({ id: 'a', kind: SpanKind.Client, service: 'web', durationMs: 1, attributes }));
    const both = half({ 'http.request.body.size': 120, 'http.response_content_length': 3400 });
    assert.equal(both.requestBytes, 120);
    assert.equal(both.responseBytes, 3400);
    assert.equal(half({ request_size: '77', response_size: '0' }).responseBytes, 0);
    assert.equal(half({ request_size: '77' }).requestBytes, 77);
    const none = half({ 'http.request.body.size': 'lots' });
    assert.equal('requestBytes' in none, false, 'an unreadable size is no size');
    assert.equal('responseBytes' in none, false);
  });
});

describe('nodeId', () => {
  it('is namespace/name, plus @version unless the name carries it; bare name without namespace', () => {
    assert.equal(nodeId({ kind: 'service', name: 'reviews', namespace: 'bookinfo' }), 'bookinfo/reviews');
    assert.equal(nodeId({ kind: 'service', name: 'reviews', namespace: 'bookinfo', version: 'v2' }), 'bookinfo/reviews@v2');
    assert.equal(nodeId({ kind: 'service', name: 'reviews-v2', namespace: 'bookinfo', version: 'v2' }), 'bookinfo/reviews-v2');
    assert.equal(nodeId({ kind: 'virtual', name: 'api.example.com', namespace: '' }), 'api.example.com');
  });
});

describe('peer of a CLIENT span, in priority order', () => {
  // Each step removes the attribute that won the step before, so every rule is seen winning over the next.
  const all: Record<string, string> = {
    'db.system': 'postgresql',
    'db.namespace': 'orders',
    'messaging.system': 'kafka',
    'messaging.destination.name': 'order-events',
    'peer.service': 'payments',
    'server.address': 'reviews.bookinfo.svc.cluster.local',
    'net.peer.name': 'legacy-host',
    upstream_cluster: 'outbound|9080|v2|ratings.bookinfo.svc.cluster.local',
  };
  const without = (...keys: string[]) => Object.fromEntries(Object.entries(all).filter(([key]) => !keys.includes(key)));

  it('db.system → database named by db.namespace, else the system', () => {
    assert.deepEqual(clientPeer(all), { kind: 'database', name: 'orders', namespace: '' });
    assert.deepEqual(clientPeer(without('db.namespace')), { kind: 'database', name: 'postgresql', namespace: '' });
    assert.deepEqual(clientPeer({ 'db.system': 'mysql', 'db.name': 'legacydb' }), { kind: 'database', name: 'legacydb', namespace: '' });
  });

  it('messaging.system → messaging named by the destination, else the system', () => {
    assert.deepEqual(clientPeer(without('db.system', 'db.namespace')), { kind: 'messaging', name: 'order-events', namespace: '' });
    assert.deepEqual(clientPeer({ 'messaging.system': 'rabbitmq' }), { kind: 'messaging', name: 'rabbitmq', namespace: '' });
  });

  it('then peer.service, server.address (Kubernetes FQDN parsed), net.peer.name, upstream_cluster → virtual', () => {
    const noBackends = ['db.system', 'db.namespace', 'messaging.system', 'messaging.destination.name'];
    assert.deepEqual(clientPeer(without(...noBackends)), { kind: 'virtual', name: 'payments', namespace: '' });
    assert.deepEqual(clientPeer(without(...noBackends, 'peer.service')), { kind: 'virtual', name: 'reviews', namespace: 'bookinfo' });
    assert.deepEqual(clientPeer(without(...noBackends, 'peer.service', 'server.address')), { kind: 'virtual', name: 'legacy-host', namespace: '' });
    assert.deepEqual(clientPeer(without(...noBackends, 'peer.service', 'server.address', 'net.peer.name')), {
      kind: 'virtual',
      name: 'ratings',
      namespace: 'bookinfo',
      version: 'v2',
    });
  });

  it('nothing to go on → null (unknown), never a made-up name', () => {
    assert.equal(clientPeer({}), null);
    assert.equal(clientPeer({ 'http.request.method': 'GET' }), null);
  });

  it('falls back to the URL host before giving up', () => {
    assert.deepEqual(clientPeer({ 'url.full': 'https://api.stripe.com/v1/charges' }), { kind: 'virtual', name: 'api.stripe.com', namespace: '' });
  });
});

describe('Envoy upstream_cluster', () => {
  it('parses Istio outbound clusters with and without subset', () => {
    assert.deepEqual(parseUpstreamCluster('outbound|9080|v2|reviews.bookinfo.svc.cluster.local'), {
      kind: 'virtual',
      name: 'reviews',
      namespace: 'bookinfo',
      version: 'v2',
    });
    assert.deepEqual(parseUpstreamCluster('outbound|9080||reviews.bookinfo.svc.cluster.local'), { kind: 'virtual', name: 'reviews', namespace: 'bookinfo' });
  });

  it('keeps plain cluster names and drops clusters that are no destination', () => {
    assert.deepEqual(parseUpstreamCluster('backend_cluster'), { kind: 'virtual', name: 'backend_cluster', namespace: '' });
    assert.equal(parseUpstreamCluster('PassthroughCluster'), null);
    assert.equal(parseUpstreamCluster('BlackHoleCluster'), null);
    assert.equal(parseUpstreamCluster('inbound|9080||'), null);
    assert.equal(clientPeer({ upstream_cluster: 'PassthroughCluster' }), null);
  });
});

describe('caller guess of a SERVER span', () => {
  it('SPIFFE id → service account in its namespace', () => {
    assert.deepEqual(serverPeer({ 'tls.client.subject_alt_name': 'spiffe://cluster.local/ns/bookinfo/sa/productpage', 'client.address': '10.0.0.7' }), {
      kind: 'virtual',
      name: 'productpage',
      namespace: 'bookinfo',
    });
  });

  it('then peer.service, then client.address; else null', () => {
    assert.deepEqual(serverPeer({ 'peer.service': 'mobile-app', 'client.address': '10.0.0.7' }), { kind: 'virtual', name: 'mobile-app', namespace: '' });
    assert.deepEqual(serverPeer({ 'client.address': '10.0.0.7' }), { kind: 'virtual', name: '10.0.0.7', namespace: '' });
    assert.equal(serverPeer({ 'http.request.method': 'GET' }), null);
  });

  it('internal spans have no peer', () => {
    assert.equal(toHalf(span({ id: 'a', kind: SpanKind.Internal, service: 's', durationMs: 1, attributes: { 'peer.service': 'x' } })).peer, null);
  });
});

describe('errors', () => {
  const errorOf = (attributes: Record<string, number | string>, status: StatusCode = StatusCode.Unset, kind: SpanKind = SpanKind.Server) =>
    toHalf(span({ id: 'a', kind, service: 's', durationMs: 1, attributes, status })).error;

  it('HTTP ≥ 500 is an error, 404 is not — even on a CLIENT span OTel marked ERROR', () => {
    assert.equal(errorOf({ 'http.response.status_code': 500 }), true);
    assert.equal(errorOf({ 'http.status_code': 503 }), true);
    assert.equal(errorOf({ 'http.response.status_code': 404 }), false);
    assert.equal(errorOf({ 'http.response.status_code': 404 }, StatusCode.Error, SpanKind.Client), false);
    assert.equal(errorOf({ 'http.response.status_code': 200 }), false);
  });

  it('gRPC failure codes are errors, NOT_FOUND (5) is not', () => {
    assert.equal(errorOf({ 'rpc.system': 'grpc', 'rpc.grpc.status_code': 14 }), true);
    assert.equal(errorOf({ 'rpc.system': 'grpc', 'rpc.grpc.status_code': 2 }), true);
    assert.equal(errorOf({ 'rpc.system': 'grpc', 'rpc.grpc.status_code': 5 }), false);
    assert.equal(errorOf({ 'rpc.system': 'grpc', 'rpc.grpc.status_code': 0 }), false);
  });

  it('without a status code, OTLP status ERROR or a Zipkin error tag decides', () => {
    assert.equal(errorOf({}, StatusCode.Error), true);
    assert.equal(errorOf({}, StatusCode.Ok), false);
    assert.equal(errorOf({}), false);
    assert.equal(errorOf({ error: 'true' }), true);
  });
});

describe('protocol', () => {
  const protocolOf = (attributes: Record<string, string | number>) => toHalf(span({ id: 'a', kind: SpanKind.Client, service: 's', durationMs: 1, attributes })).protocol;
  it('reads it from the attributes', () => {
    assert.equal(protocolOf({ 'http.request.method': 'GET' }), 'http');
    assert.equal(protocolOf({ 'http.method': 'GET', 'http.status_code': 200 }), 'http');
    assert.equal(protocolOf({ 'rpc.system': 'grpc', 'rpc.method': 'Get' }), 'grpc');
    assert.equal(protocolOf({ 'db.system': 'redis' }), 'database');
    assert.equal(protocolOf({ 'messaging.system': 'kafka' }), 'messaging');
    assert.equal(protocolOf({ 'network.transport': 'tcp' }), 'tcp');
    assert.equal(protocolOf({}), 'unknown');
  });
});

describe('mTLS', () => {
  const mtlsOf = (attributes: Record<string, string | boolean>) => toHalf(span({ id: 'a', kind: SpanKind.Server, service: 's', durationMs: 1, attributes })).mtls;
  it('true/false only where an attribute says so', () => {
    assert.equal(mtlsOf({ connection_security_policy: 'mutual_tls' }), true);
    assert.equal(mtlsOf({ connection_security_policy: 'none' }), false);
    assert.equal(mtlsOf({ 'peer.principal': 'spiffe://td/ns/a/sa/b' }), true);
    assert.equal(mtlsOf({ 'tls.established': false }), false);
    assert.equal(mtlsOf({ 'tls.established': true, 'tls.client.subject': 'CN=client' }), true);
    assert.equal(mtlsOf({ 'tls.established': true }), null);
    assert.equal(mtlsOf({}), null);
  });
});

describe('sampling weight', () => {
  const weightOf = (traceState: string, attributes: Record<string, string | number> = {}) =>
    toHalf(span({ id: 'a', kind: SpanKind.Server, service: 's', durationMs: 1, traceState, attributes })).weight;

  it('OTel th threshold → 1 / probability', () => {
    assert.equal(weightOf('ot=th:8'), 2);
    assert.equal(weightOf('ot=th:c'), 4);
    assert.equal(weightOf('ot=th:f'), 16);
    assert.equal(weightOf('ot=th:0'), 1);
    assert.equal(weightOf('rojo=00f067aa0ba902b7,ot=rv:abcdef12345678;th:e'), 8);
    // 1% sampling as the spec writes it: close to 100 (the 14-digit threshold is rounded).
    assert.ok(Math.abs(weightOf('ot=th:fd70a3d70a3d71') - 100) < 1e-9);
  });

  it('rate attributes when there is no threshold; else 1', () => {
    assert.equal(weightOf('', { SampleRate: 10 }), 10);
    assert.equal(weightOf('', { 'sampling.rate': 20 }), 20);
    assert.equal(weightOf('', { 'sampler.type': 'probabilistic', 'sampler.param': 0.25 }), 4);
    assert.equal(weightOf('ot=th:zz', { SampleRate: 3 }), 3);
    assert.equal(weightOf(''), 1);
  });

  it('thresholdWeight rejects malformed thresholds', () => {
    assert.equal(thresholdWeight('ot=th:123456789abcdef0'), null);
    assert.equal(thresholdWeight('other=th:8'), null);
  });
});

describe('work done once', () => {
  it("a span's attributes never show in the next span's half", () => {
    const first = toHalf(span({ id: 'a', kind: SpanKind.Client, service: 's', durationMs: 1, attributes: { 'db.system': 'redis', 'http.status_code': 503, 'peer.principal': 'spiffe://td/ns/a/sa/b' } }));
    assert.deepEqual([first.peer?.kind, first.protocol, first.error, first.mtls], ['database', 'database', true, true]);
    const next = toHalf(span({ id: 'b', kind: SpanKind.Client, service: 's', durationMs: 1 }));
    assert.deepEqual([next.peer, next.protocol, next.error, next.mtls], [null, 'unknown', false, null]);
  });

  it('a key given twice counts with its last value, and an empty value names nothing', () => {
    const half = (attributes: Array<[string, string]>) =>
      toHalf({ ...span({ id: 'a', kind: SpanKind.Client, service: 's', durationMs: 1 }), attributes: attributes.map(([key, value]) => ({ key, type: 'string' as const, value })) });
    assert.equal(half([['peer.service', 'old'], ['peer.service', 'new']]).peer?.name, 'new');
    assert.equal(half([['peer.service', 'named'], ['peer.service', '']]).peer, null);
  });

  it('spans naming the same peer or service share one node; ids follow a node changed later', () => {
    const a = toHalf(span({ id: 'a', kind: SpanKind.Client, service: 'web', durationMs: 1, attributes: { upstream_cluster: 'outbound|80|v1|api.shop.svc.cluster.local' } }));
    const b = toHalf(span({ id: 'b', kind: SpanKind.Client, service: 'web', durationMs: 1, attributes: { upstream_cluster: 'outbound|80|v1|api.shop.svc.cluster.local' } }));
    assert.equal(a.peer, b.peer);
    assert.equal(a.self, b.self, 'two resources of one service: one node');
    const node: NodeRef = { kind: 'virtual', name: 'api', namespace: 'shop' };
    assert.equal(nodeId(node), 'shop/api');
    node.version = 'v3';
    assert.equal(nodeId(node), 'shop/api@v3');
  });
});
