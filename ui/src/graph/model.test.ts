import { describe, expect, it } from 'vitest';
import type { ApiEdge, ApiNode, ServiceGraph } from '../api.ts';
import { buildModel, mtlsStateOf, neighbourhood, restrictModel, searchNodes, serviceNameOf } from './model.ts';

const node = (id: string, extra: Partial<ApiNode> = {}): ApiNode => {
  const slash = id.indexOf('/');
  const bare = id.slice(slash + 1).split('@')[0]!;
  return { id, name: bare, namespace: slash === -1 ? '' : id.slice(0, slash), kind: 'service', requests: 0, errors: 0, p50Ms: null, p95Ms: null, p99Ms: null, ...extra };
};
const edge = (source: string, target: string, extra: Partial<ApiEdge> = {}): ApiEdge => ({
  id: `${source}->${target}`, source, target, protocol: 'http', requests: 10, errors: 0, rps: 1, errorRate: 0, p50Ms: 5, p95Ms: 9, p99Ms: 10, mtls: null, signals: ['spans'], ...extra,
});

const bookinfo: ServiceGraph = {
  start: 0,
  end: 60_000,
  nodes: [
    node('bookinfo/productpage', { requests: 60 }),
    node('bookinfo/reviews@v1', { version: 'v1', requests: 30 }),
    node('bookinfo/reviews-v2', { name: 'reviews-v2', version: 'v2', requests: 20, errors: 5 }),
    node('bookinfo/reviews@v3', { version: 'v3', requests: 10 }),
    node('bookinfo/details@v1', { version: 'v1', requests: 60 }),
    node('ratings-db', { kind: 'database', requests: 30 }),
    node('orders', { kind: 'messaging', requests: 3 }),
    node('unknown', { kind: 'unknown' }),
    node('api.example.com', { kind: 'virtual', requests: 2 }),
  ],
  edges: [
    edge('unknown', 'bookinfo/productpage'),
    edge('bookinfo/productpage', 'bookinfo/reviews@v1', { mtls: true }),
    edge('bookinfo/productpage', 'bookinfo/reviews-v2', { mtls: false, errors: 5, errorRate: 0.25 }),
    edge('bookinfo/productpage', 'bookinfo/reviews@v3', { mtls: true }),
    edge('bookinfo/productpage', 'bookinfo/details@v1', { protocol: 'http', requests: 50, rps: 5, mtls: true, p95Ms: 12 }),
    edge('bookinfo/productpage', 'bookinfo/details@v1', { protocol: 'grpc', requests: 10, errors: 2, rps: 1, mtls: false, p95Ms: 40, signals: ['envoy-als'] }),
    edge('bookinfo/reviews-v2', 'ratings-db'),
  ],
};

describe('buildModel', () => {
  const model = buildModel(bookinfo);

  it('groups the versions of one service, with each version its share of the service traffic', () => {
    expect(model.serviceGroups.map((g) => [g.key, g.name, g.nodeIds])).toEqual([
      ['bookinfo/reviews', 'reviews', ['bookinfo/reviews@v1', 'bookinfo/reviews-v2', 'bookinfo/reviews@v3']],
    ]);
    const shares = model.serviceGroups[0]!.nodeIds.map((id) => model.nodeById.get(id)!.versionShare);
    expect(shares).toEqual([0.5, 20 / 60, 10 / 60]);
    expect(shares.reduce((a, b) => a! + b!, 0)).toBeCloseTo(1, 10);
    // A service with a single version is not a group and gets no split.
    expect(model.nodeById.get('bookinfo/details@v1')!.versionShare).toBeNull();
  });

  it('strips the version from names that carry it', () => {
    expect(serviceNameOf({ name: 'reviews-v2', version: 'v2' })).toBe('reviews');
    expect(serviceNameOf({ name: 'reviews', version: 'v2' })).toBe('reviews');
    expect(serviceNameOf({ name: 'v2', version: 'v2' })).toBe('v2');
    expect(serviceNameOf({ name: 'cart' })).toBe('cart');
  });

  it('groups nodes by namespace, with namespace-less nodes in their own group', () => {
    expect(model.namespaces.map((g) => [g.namespace, g.nodeIds.length])).toEqual([
      ['', 4],
      ['bookinfo', 5],
    ]);
  });

  it('keeps node kinds and error rates', () => {
    expect(Object.fromEntries(model.nodes.map((n) => [n.id, n.kind]))).toMatchObject({ 'ratings-db': 'database', orders: 'messaging', unknown: 'unknown', 'api.example.com': 'virtual', 'bookinfo/productpage': 'service' });
    expect(model.nodeById.get('bookinfo/reviews-v2')!.errorRate).toBe(0.25);
    expect(model.nodeById.get('unknown')!.errorRate).toBe(0);
  });

  it('merges the per-protocol rows of one pair into one edge: counts add, the busiest row gives the latency', () => {
    const details = model.edges.filter((e) => e.target === 'bookinfo/details@v1');
    expect(details).toHaveLength(1);
    expect(details[0]).toMatchObject({ id: 'bookinfo/productpage->bookinfo/details@v1', protocols: ['grpc', 'http'], requests: 60, errors: 2, rps: 6, p95Ms: 12, mtls: 'mixed', signals: ['envoy-als', 'spans'] });
    expect(details[0]!.errorRate).toBeCloseTo(2 / 60, 10);
    expect(model.edges).toHaveLength(6);
  });

  it('derives the mTLS state of each edge', () => {
    const mtls = Object.fromEntries(model.edges.map((e) => [e.id, e.mtls]));
    expect(mtls['bookinfo/productpage->bookinfo/reviews@v1']).toBe('all');
    expect(mtls['bookinfo/productpage->bookinfo/reviews-v2']).toBe('none');
    expect(mtls['unknown->bookinfo/productpage']).toBe('unknown');
    expect(mtlsStateOf([true, null])).toBe('all');
    expect(mtlsStateOf([false, null, false])).toBe('none');
    expect(mtlsStateOf([true, false])).toBe('mixed');
    expect(mtlsStateOf([null, null])).toBe('unknown');
  });

  it('adds a node for an edge end the answer did not list', () => {
    const cut = buildModel({ start: 0, end: 1, nodes: [node('a/x')], edges: [edge('a/x', 'b/y')] });
    expect(cut.nodeById.get('b/y')).toMatchObject({ name: 'y', namespace: 'b', kind: 'virtual' });
  });

  it('finds a neighbourhood, restricts to it, and searches by name', () => {
    const around = neighbourhood(model, 'bookinfo/reviews-v2');
    expect([...around].sort()).toEqual(['bookinfo/productpage', 'bookinfo/reviews-v2', 'ratings-db']);
    const focused = restrictModel(model, around);
    expect(focused.edges.map((e) => e.id).sort()).toEqual(['bookinfo/productpage->bookinfo/reviews-v2', 'bookinfo/reviews-v2->ratings-db']);
    expect(focused.serviceGroups).toEqual([]);
    expect(searchNodes(model, 'REVIEWS')).toEqual(['bookinfo/reviews@v1', 'bookinfo/reviews-v2', 'bookinfo/reviews@v3']);
    expect(searchNodes(model, '  ')).toEqual([]);
  });
});
