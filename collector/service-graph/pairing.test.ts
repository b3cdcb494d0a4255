// pairHalves and aggregateEdges on small hand-written traces, one per case, with exact edges.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type SpanRecord, SpanKind, StatusCode } from '../model.ts';
import { type SpanHalf, halfKey, nodeId, toHalf } from './halves.ts';
import { type EdgeObservation, aggregateEdges, pairHalves } from './pairing.ts';
import { MS, T0, span, traceId } from './spans-for-tests.ts';
import { seededRandom } from '../../test/helpers/random.ts';

const { Client, Server, Producer, Consumer, Internal } = SpanKind;

interface EdgeSummary {
  from: string;
  to: string;
  rule: EdgeObservation['rule'];
  protocol: EdgeObservation['protocol'];
  latencyMs: number;
  error: boolean;
  weight: number;
}

function summarize(edges: readonly EdgeObservation[]): EdgeSummary[] {
  return edges.map((edge) => ({
    from: nodeId(edge.source),
    to: nodeId(edge.target),
    rule: edge.rule,
    protocol: edge.protocol,
    latencyMs: edge.latencyNanos / 1e6,
    error: edge.error,
    weight: edge.weight,
  }));
}

function finalEdges(spans: readonly SpanRecord[]): EdgeObservation[] {
  return pairHalves(spans.map(toHalf), { final: true }).edges;
}

/** Deterministic shuffle (mulberry32) so a failure can be replayed. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const random = seededRandom(seed);
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

// OTel style: frontend's root SERVER, its CLIENT to cart, cart's SERVER as the CLIENT's child.
const otelTrace = [
  span({ id: 'a1', kind: Server, service: 'frontend', namespace: 'shop', durationMs: 50, attributes: { 'http.request.method': 'GET', 'http.response.status_code': 200 } }),
  span({ id: 'a2', parent: 'a1', kind: Client, service: 'frontend', namespace: 'shop', startMs: 5, durationMs: 30, attributes: { 'http.request.method': 'GET', 'server.address': 'cart.shop.svc.cluster.local', 'http.response.status_code': 200 } }),
  span({ id: 'a3', parent: 'a2', kind: Server, service: 'cart', namespace: 'shop', startMs: 7, durationMs: 25, attributes: { 'http.request.method': 'GET', 'http.response.status_code': 200 } }),
];

describe('CLIENT → SERVER', () => {
  it('pairs OTel parent/child; the edge carries the callee duration and start', () => {
    const edges = finalEdges(otelTrace);
    assert.deepEqual(summarize(edges), [
      { from: 'unknown', to: 'shop/frontend', rule: 'unpaired-callee', protocol: 'http', latencyMs: 50, error: false, weight: 1 },
      { from: 'shop/frontend', to: 'shop/cart', rule: 'parent-child', protocol: 'http', latencyMs: 25, error: false, weight: 1 },
    ]);
    const paired = edges[1];
    assert.equal(paired?.timeUnixNano, T0 + 7n * MS);
    assert.equal(paired?.traceId, traceId('1'));
    assert.deepEqual(paired?.halves, [`${traceId('1')}/00000000000000a2/client/shop/frontend`, `${traceId('1')}/00000000000000a3/server/shop/cart`]);
  });

  it('pairs Zipkin shared span ids and does not also pair the SERVER half with its parent', () => {
    // Envoy shared_span_context: the SERVER half reuses the CLIENT's id (b2) and parent (b1).
    const trace = [
      span({ id: 'b1', kind: Server, service: 'productpage', durationMs: 40, attributes: { 'http.status_code': 200 } }),
      span({ id: 'b2', parent: 'b1', kind: Client, service: 'productpage', startMs: 2, durationMs: 30, attributes: { 'http.status_code': 200 } }),
      span({ id: 'b2', parent: 'b1', kind: Server, service: 'reviews', startMs: 3, durationMs: 28, attributes: { 'http.status_code': 200 } }),
      // reviews' own call under the shared span belongs to the SERVER side, i.e. reviews.
      span({ id: 'b3', parent: 'b2', kind: Client, service: 'reviews', startMs: 4, durationMs: 10, attributes: { 'peer.service': 'ratings', 'http.status_code': 503 } }),
    ];
    assert.deepEqual(summarize(finalEdges(trace)), [
      { from: 'unknown', to: 'productpage', rule: 'unpaired-callee', protocol: 'http', latencyMs: 40, error: false, weight: 1 },
      { from: 'productpage', to: 'reviews', rule: 'shared-span', protocol: 'http', latencyMs: 28, error: false, weight: 1 },
      { from: 'reviews', to: 'ratings', rule: 'unpaired-caller', protocol: 'http', latencyMs: 10, error: true, weight: 1 },
    ]);
  });

  it('same-service parent/child is never an edge', () => {
    const trace = [
      span({ id: 'c1', kind: Server, service: 'api', durationMs: 20, attributes: { 'client.address': '10.1.1.1' } }),
      span({ id: 'c2', parent: 'c1', kind: Server, service: 'api', startMs: 1, durationMs: 18 }),
      span({ id: 'c3', parent: 'c2', kind: Client, service: 'api', startMs: 2, durationMs: 5 }),
      span({ id: 'c4', parent: 'c3', kind: Server, service: 'api', startMs: 3, durationMs: 4 }),
    ];
    assert.deepEqual(summarize(finalEdges(trace)), [
      { from: '10.1.1.1', to: 'api', rule: 'unpaired-callee', protocol: 'unknown', latencyMs: 20, error: false, weight: 1 },
    ]);
  });
});

describe('proxies with non-canonical kinds', () => {
  it('Istio ingress gateway CLIENT → CLIENT, then the CLIENT → SERVER below it', () => {
    const trace = [
      span({ id: 'd1', kind: Client, service: 'istio-ingressgateway', namespace: 'istio-system', durationMs: 60, attributes: { 'http.method': 'GET', 'http.status_code': 200 } }),
      span({ id: 'd2', parent: 'd1', kind: Client, service: 'productpage', namespace: 'bookinfo', startMs: 1, durationMs: 55, attributes: { 'http.method': 'GET', 'http.status_code': 200 } }),
      span({ id: 'd3', parent: 'd2', kind: Server, service: 'details', namespace: 'bookinfo', startMs: 2, durationMs: 50, attributes: { 'http.method': 'GET', 'http.status_code': 200 } }),
    ];
    assert.deepEqual(summarize(finalEdges(trace)), [
      { from: 'istio-system/istio-ingressgateway', to: 'bookinfo/productpage', rule: 'parent-child', protocol: 'http', latencyMs: 55, error: false, weight: 1 },
      { from: 'bookinfo/productpage', to: 'bookinfo/details', rule: 'parent-child', protocol: 'http', latencyMs: 50, error: false, weight: 1 },
    ]);
  });

  it('ingress-nginx SERVER → SERVER, the root named from client.address', () => {
    const trace = [
      span({ id: 'e1', kind: Server, service: 'ingress-nginx', namespace: 'ingress-nginx', durationMs: 30, attributes: { 'client.address': '203.0.113.7', 'http.request.method': 'POST', 'http.response.status_code': 502 } }),
      span({ id: 'e2', parent: 'e1', kind: Server, service: 'checkout', namespace: 'shop', startMs: 1, durationMs: 27, attributes: { 'http.request.method': 'POST', 'http.response.status_code': 500 } }),
    ];
    assert.deepEqual(summarize(finalEdges(trace)), [
      { from: '203.0.113.7', to: 'ingress-nginx/ingress-nginx', rule: 'unpaired-callee', protocol: 'http', latencyMs: 30, error: true, weight: 1 },
      { from: 'ingress-nginx/ingress-nginx', to: 'shop/checkout', rule: 'parent-child', protocol: 'http', latencyMs: 27, error: true, weight: 1 },
    ]);
  });
});

describe('messaging', () => {
  it('PRODUCER → messaging node → CONSUMER, each side its own duration', () => {
    const trace = [
      span({ id: 'f1', kind: Producer, service: 'orders', durationMs: 2, attributes: { 'messaging.system': 'kafka', 'messaging.destination.name': 'order-events' } }),
      span({ id: 'f2', parent: 'f1', kind: Consumer, service: 'shipping', startMs: 900, durationMs: 15, attributes: { 'messaging.system': 'kafka', 'messaging.destination.name': 'order-events' } }),
    ];
    const edges = finalEdges(trace);
    assert.deepEqual(summarize(edges), [
      { from: 'orders', to: 'order-events', rule: 'messaging', protocol: 'messaging', latencyMs: 2, error: false, weight: 1 },
      { from: 'order-events', to: 'shipping', rule: 'messaging', protocol: 'messaging', latencyMs: 15, error: false, weight: 1 },
    ]);
    assert.deepEqual(edges.map((edge) => [edge.source.kind, edge.target.kind]), [['service', 'messaging'], ['messaging', 'service']]);
  });

  it('a consumer without messaging attributes takes the node from its producer', () => {
    const trace = [
      span({ id: 'g1', kind: Producer, service: 'orders', durationMs: 2, attributes: { 'messaging.system': 'rabbitmq', 'messaging.destination.name': 'invoices' } }),
      span({ id: 'g2', parent: 'g1', kind: Consumer, service: 'billing', startMs: 10, durationMs: 7 }),
    ];
    assert.deepEqual(summarize(finalEdges(trace)).map(({ from, to }) => `${from} -> ${to}`), ['orders -> invoices', 'invoices -> billing']);
  });
});

describe('peers that send no spans', () => {
  const cases: Array<[string, Record<string, string>, string, string]> = [
    ['db.system + db.namespace', { 'db.system': 'postgresql', 'db.namespace': 'orders', 'peer.service': 'pg' }, 'orders', 'database'],
    ['messaging.system', { 'messaging.system': 'kafka', 'peer.service': 'broker' }, 'kafka', 'messaging'],
    ['peer.service', { 'peer.service': 'payments', 'server.address': 'pay.example.com' }, 'payments', 'virtual'],
    ['server.address', { 'server.address': 'pay.example.com', 'net.peer.name': 'old-name' }, 'pay.example.com', 'virtual'],
    ['net.peer.name', { 'net.peer.name': 'old-name', upstream_cluster: 'backend' }, 'old-name', 'virtual'],
    ['upstream_cluster with subset', { upstream_cluster: 'outbound|9080|v2|reviews.bookinfo.svc.cluster.local' }, 'bookinfo/reviews@v2', 'virtual'],
    ['plain upstream_cluster', { upstream_cluster: 'backend' }, 'backend', 'virtual'],
    ['nothing at all', {}, 'unknown', 'unknown'],
  ];
  for (const [label, attributes, expectedId, expectedKind] of cases) {
    it(`a CLIENT with no callee goes to its peer: ${label}`, () => {
      const edges = finalEdges([span({ id: 'h1', kind: Client, service: 'web', durationMs: 9, attributes })]);
      assert.equal(edges.length, 1);
      assert.equal(nodeId(edges[0]!.target), expectedId);
      assert.equal(edges[0]!.target.kind, expectedKind);
      assert.equal(nodeId(edges[0]!.source), 'web');
      assert.equal(edges[0]!.latencyNanos, 9_000_000);
      assert.equal(edges[0]!.rule, 'unpaired-caller');
    });
  }

  it('a database call becomes a database node edge with the caller duration', () => {
    const trace = [
      span({ id: 'i1', kind: Server, service: 'inventory', durationMs: 12, attributes: { 'peer.service': 'web' } }),
      span({ id: 'i2', parent: 'i1', kind: Client, service: 'inventory', startMs: 1, durationMs: 4, attributes: { 'db.system': 'postgresql', 'db.namespace': 'stock' } }),
    ];
    assert.deepEqual(summarize(finalEdges(trace)), [
      { from: 'web', to: 'inventory', rule: 'unpaired-callee', protocol: 'unknown', latencyMs: 12, error: false, weight: 1 },
      { from: 'inventory', to: 'stock', rule: 'unpaired-caller', protocol: 'database', latencyMs: 4, error: false, weight: 1 },
    ]);
  });

  it('a root SERVER: unknown, or the caller named by client.address or SPIFFE id', () => {
    const root = (attributes: Record<string, string>) => finalEdges([span({ id: 'j1', kind: Server, service: 'api', namespace: 'prod', durationMs: 3, attributes })]);
    assert.deepEqual(root({})[0]?.source, { kind: 'unknown', name: 'unknown', namespace: '' });
    assert.equal(nodeId(root({ 'client.address': '10.0.0.9' })[0]!.source), '10.0.0.9');
    const spiffe = root({ 'peer.principal': 'spiffe://cluster.local/ns/web/sa/frontend' })[0]!;
    assert.deepEqual(spiffe.source, { kind: 'virtual', name: 'frontend', namespace: 'web' });
    assert.equal(spiffe.mtls, true);
  });

  it('a SERVER whose parent never arrived is also named from its caller guess', () => {
    const edges = finalEdges([span({ id: 'k2', parent: 'k1', kind: Server, service: 'api', durationMs: 3, attributes: { 'peer.service': 'mobile' } })]);
    assert.deepEqual(summarize(edges).map(({ from, to, rule }) => [from, to, rule]), [['mobile', 'api', 'unpaired-callee']]);
  });
});

describe('weights and errors', () => {
  it('sampled spans are weighted by their th threshold; aggregates count weighted requests and errors', () => {
    const trace = [
      span({ id: 'l1', kind: Client, service: 'web', durationMs: 10, traceState: 'ot=th:c', attributes: { 'http.response.status_code': 500 } }),
      span({ id: 'l2', parent: 'l1', kind: Server, service: 'api', startMs: 1, durationMs: 8, traceState: 'ot=th:c', attributes: { 'http.response.status_code': 500 } }),
    ];
    const edges = finalEdges(trace);
    assert.deepEqual(summarize(edges), [{ from: 'web', to: 'api', rule: 'parent-child', protocol: 'http', latencyMs: 8, error: true, weight: 4 }]);
    const [aggregate] = aggregateEdges(edges);
    assert.equal(aggregate?.requests, 4);
    assert.equal(aggregate?.errors, 4);
    assert.equal(aggregate?.observations, 1);
  });

  it('500, gRPC 14 and status ERROR are errors; 404 and gRPC 5 are not', () => {
    const calls: Array<[Record<string, number>, StatusCode]> = [
      [{ 'http.response.status_code': 500 }, StatusCode.Unset],
      [{ 'http.response.status_code': 404 }, StatusCode.Unset],
      [{ 'rpc.grpc.status_code': 14 }, StatusCode.Error],
      [{ 'rpc.grpc.status_code': 5 }, StatusCode.Unset],
      [{}, StatusCode.Error],
    ];
    const spans = calls.flatMap(([attributes, status], i) => [
      span({ trace: `${i + 1}`, id: 'm1', kind: Client, service: 'web', durationMs: 5, attributes }),
      span({ trace: `${i + 1}`, id: 'm2', parent: 'm1', kind: Server, service: 'api', startMs: 1, durationMs: 4, attributes, status }),
    ]);
    const edges = finalEdges(spans);
    assert.deepEqual(
      edges.map((edge) => [edge.traceId, edge.error]),
      [[traceId('1'), true], [traceId('2'), false], [traceId('3'), true], [traceId('4'), false], [traceId('5'), true]],
    );
    const aggregates = aggregateEdges(edges);
    assert.deepEqual(aggregates.map(({ id, protocol, requests, errors }) => ({ id, protocol, requests, errors })), [
      { id: 'web->api', protocol: 'grpc', requests: 2, errors: 1 },
      { id: 'web->api', protocol: 'http', requests: 2, errors: 1 },
      { id: 'web->api', protocol: 'unknown', requests: 1, errors: 1 },
    ]);
  });
});

describe('halves arriving apart', () => {
  const client = toHalf(otelTrace[1]!);
  const server = toHalf(otelTrace[2]!);

  it('CLIENT first, SERVER later, in separate non-final calls: exactly one edge', () => {
    const first = pairHalves([client], { final: false });
    assert.deepEqual(first.edges, []);
    assert.deepEqual(first.waiting.map(halfKey), [halfKey(client)]);
    const second = pairHalves([...first.waiting, server], { final: false });
    assert.deepEqual(summarize(second.edges).map(({ from, to, rule }) => [from, to, rule]), [['shop/frontend', 'shop/cart', 'parent-child']]);
    const closing = pairHalves(second.waiting, { final: true });
    // The CLIENT's parent never came: a CLIENT gets no edge from that, and the call is not counted again.
    assert.deepEqual(closing.edges, []);
    assert.deepEqual(closing.waiting, []);
  });

  it('SERVER first, CLIENT later: the SERVER waits instead of being guessed', () => {
    const first = pairHalves([server], { final: false });
    assert.deepEqual(first.edges, []);
    const second = pairHalves([...first.waiting, client], { final: true });
    assert.deepEqual(summarize(second.edges).map(({ from, to }) => [from, to]), [['shop/frontend', 'shop/cart']]);
  });

  it('a Zipkin SERVER half with a SERVER parent waits for its shared-id CLIENT twin', () => {
    const parent = toHalf(span({ id: 'n1', kind: Server, service: 'productpage', durationMs: 40 }));
    const serverHalf = toHalf(span({ id: 'n2', parent: 'n1', kind: Server, service: 'reviews', startMs: 2, durationMs: 20 }));
    const clientHalf = toHalf(span({ id: 'n2', parent: 'n1', kind: Client, service: 'productpage', startMs: 1, durationMs: 25 }));
    const first = pairHalves([parent, serverHalf], { final: false });
    assert.deepEqual(first.edges, []);
    const second = pairHalves([...first.waiting, clientHalf], { final: false });
    assert.deepEqual(summarize(second.edges).map(({ from, to, rule }) => [from, to, rule]), [['productpage', 'reviews', 'shared-span']]);
    const closing = pairHalves(second.waiting, { final: true });
    assert.deepEqual(summarize(closing.edges).map(({ from, to, rule }) => [from, to, rule]), [['unknown', 'productpage', 'unpaired-callee']]);
  });

  it('a late child still finds a parent whose own edge was already emitted', () => {
    // Sidecar SERVER (paired with the gateway early), app SERVER arriving after it.
    const gateway = toHalf(span({ id: 'o1', kind: Client, service: 'gateway', durationMs: 30 }));
    const sidecar = toHalf(span({ id: 'o2', parent: 'o1', kind: Server, service: 'reviews-sidecar', startMs: 1, durationMs: 28 }));
    const app = toHalf(span({ id: 'o3', parent: 'o2', kind: Server, service: 'reviews', startMs: 2, durationMs: 25 }));
    const first = pairHalves([gateway, sidecar], { final: false });
    assert.deepEqual(summarize(first.edges).map(({ from, to }) => [from, to]), [['gateway', 'reviews-sidecar']]);
    const second = pairHalves([...first.waiting, app], { final: true });
    assert.deepEqual(summarize(second.edges).map(({ from, to }) => [from, to]), [['reviews-sidecar', 'reviews']]);
  });

  it('halves further apart than maxSkewNanos do not pair', () => {
    const late = { ...server, startTimeUnixNano: client.startTimeUnixNano + 10n * 60_000n * MS };
    const edges = pairHalves([client, late], { final: true, maxSkewNanos: 60_000n * MS }).edges;
    assert.deepEqual(summarize(edges).map(({ from, to, rule }) => [from, to, rule]), [
      ['shop/frontend', 'shop/cart', 'unpaired-caller'],
      ['unknown', 'shop/cart', 'unpaired-callee'],
    ]);
  });
});

describe('input order and duplicates', () => {
  // Every case above in one batch.
  const everything = [
    ...otelTrace,
    span({ trace: '2', id: 'b1', kind: Server, service: 'productpage', durationMs: 40 }),
    span({ trace: '2', id: 'b2', parent: 'b1', kind: Client, service: 'productpage', startMs: 2, durationMs: 30 }),
    span({ trace: '2', id: 'b2', parent: 'b1', kind: Server, service: 'reviews', startMs: 3, durationMs: 28 }),
    span({ trace: '3', id: 'd1', kind: Client, service: 'gateway', durationMs: 60 }),
    span({ trace: '3', id: 'd2', parent: 'd1', kind: Client, service: 'productpage', startMs: 1, durationMs: 55 }),
    span({ trace: '3', id: 'd3', parent: 'd2', kind: Server, service: 'details', startMs: 2, durationMs: 50 }),
    span({ trace: '4', id: 'f1', kind: Producer, service: 'orders', durationMs: 2, attributes: { 'messaging.system': 'kafka', 'messaging.destination.name': 'order-events' } }),
    span({ trace: '4', id: 'f2', parent: 'f1', kind: Consumer, service: 'shipping', startMs: 9, durationMs: 15 }),
    span({ trace: '5', id: 'p1', kind: Internal, service: 'cron', durationMs: 100 }),
    span({ trace: '5', id: 'p2', parent: 'p1', kind: Client, service: 'cron', startMs: 1, durationMs: 5, attributes: { 'db.system': 'redis' } }),
  ].map(toHalf);
  const expected = pairHalves(everything, { final: true }).edges;

  it('the batch gives one edge per call', () => {
    assert.deepEqual(summarize(expected).map(({ from, to }) => `${from} -> ${to}`), [
      'unknown -> shop/frontend',
      'unknown -> productpage',
      'orders -> order-events',
      'gateway -> productpage',
      'cron -> redis',
      'productpage -> details',
      'productpage -> reviews',
      'shop/frontend -> shop/cart',
      'order-events -> shipping',
    ]);
  });

  it('any input order gives the same edges', () => {
    for (let seed = 1; seed <= 20; seed++) {
      assert.deepEqual(pairHalves(shuffled(everything, seed), { final: true }).edges, expected, `seed ${seed}`);
    }
  });

  it('a half given twice (or three times) is counted once', () => {
    const doubled = shuffled([...everything, ...everything, ...everything.slice(0, 4)], 7);
    assert.deepEqual(pairHalves(doubled, { final: true }).edges, expected);
  });

  it('feeding every half again after a non-final call emits nothing twice', () => {
    const first = pairHalves(everything, { final: false });
    const again: SpanHalf[] = [...first.waiting, ...everything];
    const second = pairHalves(again, { final: true });
    assert.equal(first.edges.length + second.edges.length, expected.length);
    assert.deepEqual(
      [...first.edges, ...second.edges].map((edge) => edge.halves.join(',')).sort(),
      expected.map((edge) => edge.halves.join(',')).sort(),
    );
  });
});

describe('aggregateEdges', () => {
  it('sums weighted requests and errors, keeps latencies, merges mTLS and prefers the service kind', () => {
    const base: EdgeObservation = {
      source: { kind: 'service', name: 'web', namespace: 'shop' },
      target: { kind: 'virtual', name: 'api', namespace: 'shop' },
      protocol: 'http',
      error: false,
      latencyNanos: 10,
      weight: 1,
      mtls: null,
      traceId: traceId('1'),
      timeUnixNano: T0,
      halves: ['x'],
      rule: 'unpaired-caller',
    };
    const [aggregate] = aggregateEdges([
      base,
      { ...base, target: { kind: 'service', name: 'api', namespace: 'shop' }, error: true, weight: 2, latencyNanos: 30, mtls: true, rule: 'parent-child' },
      { ...base, latencyNanos: 20, mtls: true },
    ]);
    assert.deepEqual(aggregate, {
      id: 'shop/web->shop/api',
      source: { kind: 'service', name: 'web', namespace: 'shop' },
      target: { kind: 'service', name: 'api', namespace: 'shop' },
      sourceId: 'shop/web',
      targetId: 'shop/api',
      protocol: 'http',
      requests: 4,
      errors: 2,
      observations: 3,
      latenciesNanos: [10, 30, 20],
      latencySumNanos: 10 + 60 + 20,
      mtls: true,
    });
    const mixed = aggregateEdges([{ ...base, mtls: true }, { ...base, mtls: false }]);
    assert.equal(mixed[0]?.mtls, false);
    assert.equal(aggregateEdges([base])[0]?.mtls, null);
  });
});

describe('large batches', () => {
  // Past a few dozen halves pairing indexes them by span id instead of scanning: the same edges must come out.
  const traces = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'].map((trace) => [
    span({ trace, id: 'a1', kind: Server, service: 'frontend', namespace: 'shop', durationMs: 50, attributes: { 'http.response.status_code': 200 } }),
    span({ trace, id: 'a2', parent: 'a1', kind: Client, service: 'frontend', namespace: 'shop', startMs: 5, durationMs: 30, attributes: { 'server.address': 'cart' } }),
    span({ trace, id: 'a3', parent: 'a2', kind: Server, service: 'cart', namespace: 'shop', startMs: 7, durationMs: 25 }),
    // Zipkin shared span: two candidate parents for a4's child, and a twin for the CLIENT.
    span({ trace, id: 'a4', parent: 'a3', kind: Client, service: 'cart', namespace: 'shop', startMs: 8, durationMs: 10 }),
    span({ trace, id: 'a4', parent: 'a3', kind: Server, service: 'stock', namespace: 'shop', startMs: 9, durationMs: 8 }),
    span({ trace, id: 'a5', parent: 'a4', kind: Client, service: 'stock', namespace: 'shop', startMs: 10, durationMs: 2, attributes: { 'db.system': 'redis' } }),
  ].map(toHalf));
  const alone = traces.flatMap((trace) => pairHalves(trace, { final: true }).edges);
  const batch = traces.flat();

  it('a trace paired among many others gives the edges it gives alone', () => {
    assert.ok(batch.length > 40);
    const together = pairHalves(batch, { final: true }).edges;
    assert.equal(together.length, alone.length);
    for (const trace of traces) {
      const id = trace[0]!.traceId;
      assert.deepEqual(together.filter((edge) => edge.traceId === id), alone.filter((edge) => edge.traceId === id));
    }
    assert.deepEqual(summarize(alone.slice(0, 4)).map(({ from, to, rule }) => `${from} -> ${to} ${rule}`), [
      'unknown -> shop/frontend unpaired-callee',
      'shop/frontend -> shop/cart parent-child',
      'shop/cart -> shop/stock shared-span',
      'shop/stock -> redis unpaired-caller',
    ]);
  });

  it('any input order and duplicates give the same edges', () => {
    const expected = pairHalves(batch, { final: true }).edges;
    for (let seed = 1; seed <= 5; seed++) {
      assert.deepEqual(pairHalves(shuffled([...batch, ...batch.slice(0, 15)], seed), { final: true }).edges, expected, `seed ${seed}`);
    }
  });
});
