import { describe, expect, it } from 'vitest';
import type { ApiEdge, ApiNode, ServiceGraph } from '../api.ts';
import { COLUMN_GAP, columnsOf, layoutGraph } from './layout.ts';
import { buildModel } from './model.ts';

const node = (id: string): ApiNode => ({ id, name: id.split('/').pop()!, namespace: id.includes('/') ? id.split('/')[0]! : '', kind: 'service', requests: 1, errors: 0, p50Ms: 1, p95Ms: 1, p99Ms: 1 });
const edge = (source: string, target: string): ApiEdge => ({ id: `${source}->${target}`, source, target, protocol: 'http', requests: 1, errors: 0, rps: 1, errorRate: 0, p50Ms: 1, p95Ms: 1, p99Ms: 1, mtls: null, signals: ['spans'] });

/** A mesh of `services` nodes over two namespaces, each calling the next two. */
function mesh(services: number, extra: { nodes?: ApiNode[]; edges?: ApiEdge[] } = {}): ServiceGraph {
  const ids = Array.from({ length: services }, (_, i) => `${i % 2 === 0 ? 'shop' : 'pay'}/svc-${i}`);
  const edges = ids.flatMap((id, i) => [ids[i + 1], ids[i + 2]].filter((t): t is string => t !== undefined).map((t) => edge(id, t)));
  return { start: 0, end: 1, nodes: [...ids.map(node), ...(extra.nodes ?? [])], edges: [...edges, ...(extra.edges ?? [])] };
}

const distance = (a: { x: number; y: number }, b: { x: number; y: number }) => Math.hypot(a.x - b.x, a.y - b.y);

describe('layoutGraph', () => {
  it('is deterministic: the same input gives the same positions', () => {
    const first = layoutGraph(buildModel(mesh(30)));
    const second = layoutGraph(buildModel(mesh(30)));
    expect([...second]).toEqual([...first]);
    for (const point of first.values()) expect(Number.isFinite(point.x) && Number.isFinite(point.y)).toBe(true);
  });

  it('spreads nodes out: no two nodes on top of each other', () => {
    const points = [...layoutGraph(buildModel(mesh(40))).values()];
    let closest = Infinity;
    for (let i = 0; i < points.length; i++) for (let j = i + 1; j < points.length; j++) closest = Math.min(closest, distance(points[i]!, points[j]!));
    expect(closest).toBeGreaterThan(20);
  });

  it('keeps existing nodes in place when a refresh adds a node, and puts the new one near its neighbour', () => {
    const before = layoutGraph(buildModel(mesh(30)));
    const grown = mesh(30, { nodes: [node('shop/new-cache')], edges: [edge('shop/svc-4', 'shop/new-cache')] });
    const after = layoutGraph(buildModel(grown), before);
    let moved = 0;
    for (const [id, point] of before) moved = Math.max(moved, distance(point, after.get(id)!));
    expect(moved).toBeLessThan(1);
    const added = after.get('shop/new-cache')!;
    expect(distance(added, after.get('shop/svc-4')!)).toBeLessThan(COLUMN_GAP * 1.6);
    // ...and that refresh is itself deterministic.
    expect([...layoutGraph(buildModel(grown), before)]).toEqual([...after]);
  });

  it('places one new node in a 500-node graph quickly, next to its neighbours and clear of the pinned nodes it settles among', () => {
    const ids = Array.from({ length: 500 }, (_, i) => `ns-${i % 10}/svc-${i}`);
    const edges: ApiEdge[] = [];
    for (let i = 0; i < 2000; i++) {
      const [source, target] = [ids[i % 500]!, ids[(i * 7 + 1 + Math.floor(i / 500)) % 500]!];
      if (source !== target) edges.push(edge(source, target));
    }
    let started = performance.now();
    const before = layoutGraph(buildModel({ start: 0, end: 1, nodes: ids.map(node), edges }));
    const firstLayoutMs = performance.now() - started;
    const grown = buildModel({ start: 0, end: 1, nodes: [...ids.map(node), node('ns-3/svc-new')], edges: [...edges, edge('ns-3/svc-new', ids[13]!), edge('ns-3/svc-new', ids[23]!)] });
    started = performance.now();
    const after = layoutGraph(grown, before);
    const elapsed = performance.now() - started;
    for (const [id, point] of before) expect(after.get(id)).toEqual(point);
    const added = after.get('ns-3/svc-new')!;
    const neighbours = [after.get(ids[13]!)!, after.get(ids[23]!)!];
    const nearest = Math.min(...[...before.values()].map((point) => distance(point, added)));
    // As close as a simulation of all 501 nodes put it (35 px: against a node that cannot move, forceCollide
    // pushes the newcomer by half the overlap), not on top of one.
    expect(nearest).toBeGreaterThan(30);
    expect(Math.min(...neighbours.map((p) => distance(p, added)))).toBeLessThan(600);
    // Simulating all 501 nodes took as long as the first layout; the new node alone takes a small part of it.
    expect(elapsed).toBeLessThan(firstLayoutMs / 3);
  });

  it('puts a new version of a service under its siblings, in their column, on no other node', () => {
    const version = (id: string, v: string): ApiNode => ({ ...node(id), name: 'reviews', version: v });
    const bookinfo = (versions: string[]): ServiceGraph => ({
      start: 0,
      end: 1,
      nodes: [node('b/productpage'), node('b/details'), ...versions.map((v) => version(`b/reviews@${v}`, v))],
      edges: [edge('b/productpage', 'b/details'), ...versions.map((v) => edge('b/productpage', `b/reviews@${v}`))],
    });
    const before = layoutGraph(buildModel(bookinfo(['v1', 'v2', 'v3'])));
    const after = layoutGraph(buildModel(bookinfo(['v1', 'v2', 'v3', 'v4'])), before);
    const v4 = after.get('b/reviews@v4')!;
    const siblings = ['v1', 'v2', 'v3'].map((v) => after.get(`b/reviews@${v}`)!);
    expect(Math.abs(v4.x - siblings[0]!.x)).toBeLessThan(COLUMN_GAP / 3);
    expect(v4.y).toBeGreaterThan(Math.max(...siblings.map((p) => p.y)));
    for (const [id, point] of after) if (id !== 'b/reviews@v4') expect(distance(point, v4)).toBeGreaterThan(60);
  });

  it('drops a node that disappears and leaves the others where they were', () => {
    const before = layoutGraph(buildModel(mesh(10)));
    const after = layoutGraph(buildModel(mesh(9)), before);
    expect(after.has('shop/svc-9') || after.has('pay/svc-9')).toBe(false);
    for (const [id, point] of after) expect(point).toEqual(before.get(id));
  });

  it('puts callers left of callees: columns follow call depth, and a cycle does not loop', () => {
    const graph: ServiceGraph = {
      start: 0,
      end: 1,
      nodes: ['unknown', 'a/front', 'a/back', 'a/cache', 'db'].map(node),
      edges: [edge('unknown', 'a/front'), edge('a/front', 'a/back'), edge('a/back', 'db'), edge('a/back', 'a/cache'), edge('a/cache', 'a/back')],
    };
    const model = buildModel(graph);
    expect(Object.fromEntries(columnsOf(model))).toEqual({ unknown: 0, 'a/front': 1, 'a/back': 2, 'a/cache': 3, db: 3 });
    const positions = layoutGraph(model);
    expect(positions.get('unknown')!.x).toBeLessThan(positions.get('a/front')!.x);
    expect(positions.get('a/front')!.x).toBeLessThan(positions.get('a/back')!.x);
    expect(positions.get('a/back')!.x).toBeLessThan(positions.get('db')!.x);
  });

  it('lays out a namespace-less node and a lone node', () => {
    const graph: ServiceGraph = { start: 0, end: 1, nodes: [node('lonely'), node('a/x'), node('db')], edges: [edge('a/x', 'db')] };
    const positions = layoutGraph(buildModel(graph));
    expect(positions.size).toBe(3);
  });

  it('lays out 500 nodes and 2,000 edges in about a second (a shared CI core)', () => {
    const ids = Array.from({ length: 500 }, (_, i) => `ns-${i % 10}/svc-${i}`);
    const edges: ApiEdge[] = [];
    for (let i = 0; i < 2000; i++) {
      const source = ids[i % 500]!;
      const target = ids[(i * 7 + 1 + Math.floor(i / 500)) % 500]!;
      if (source !== target) edges.push(edge(source, target));
    }
    const started = performance.now();
    const positions = layoutGraph(buildModel({ start: 0, end: 1, nodes: ids.map(node), edges }));
    expect(positions.size).toBe(500);
    expect(performance.now() - started).toBeLessThan(3000);
  });
});
