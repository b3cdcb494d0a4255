import { describe, expect, it } from 'vitest';
import { BASE, SHOP, handTrace } from './fixtures.test-helper.ts';
import { buildTree, summarize } from './tree.ts';

describe('span tree', () => {
  it('nests spans under their parents in start order, with depths, and keeps orphans as flagged roots', () => {
    const tree = buildTree(SHOP);
    expect(tree.order.map((n) => `${n.span.spanId}@${n.depth}`)).toEqual(['root@0', 'a@1', 'b@2', 'c@1', 'd@2', 'e@3', 'f@3', 'g@1', 'h@0']);
    expect(tree.roots.map((n) => n.span.spanId)).toEqual(['root', 'h']);
    expect(tree.root?.span.spanId).toBe('root');
    expect(tree.byId.get('h')?.orphan).toBe(true);
    expect(tree.orphanCount).toBe(1);
    expect(tree.byId.get('d')?.parent?.span.spanId).toBe('c');
    expect(tree.services).toEqual(['frontend', 'auth', 'db', 'cache']);
    expect([tree.startUs, tree.endUs, tree.durationUs]).toEqual([BASE, BASE + 100, 100]);
    expect(tree.errorCount).toBe(1);
    expect(tree.maxDepth).toBe(3);
  });

  it('leaves clock skew as it is: a child starting before its parent stays where its clock put it', () => {
    const tree = buildTree(handTrace([
      { id: 'p', service: 'a', start: 10, end: 20 },
      { id: 'k', parent: 'p', service: 'b', start: 5, end: 15 },
    ]));
    expect(tree.byId.get('k')?.span.startUs).toBe(BASE + 5);
    expect(tree.startUs).toBe(BASE + 5);
    expect(tree.order.map((n) => n.span.spanId)).toEqual(['p', 'k']);
  });

  it('breaks a parent cycle instead of losing its spans', () => {
    const tree = buildTree(handTrace([
      { id: 'x', parent: 'y', service: 'a', start: 0, end: 10 },
      { id: 'y', parent: 'x', service: 'a', start: 1, end: 5 },
    ]));
    expect(tree.order.map((n) => `${n.span.spanId}@${n.depth}`)).toEqual(['x@0', 'y@1']);
    expect(tree.root?.span.spanId).toBe('x');
  });

  it('summarizes a trace as the result list shows it', () => {
    expect(summarize(SHOP)).toEqual({
      traceId: 'abc',
      rootService: 'frontend',
      rootOperation: 'GET /',
      spanCount: 9,
      services: [{ name: 'frontend', spans: 4 }, { name: 'db', spans: 3 }, { name: 'auth', spans: 1 }, { name: 'cache', spans: 1 }],
      errorCount: 1,
      startUs: BASE,
      durationUs: 100,
    });
  });

  it('handles a 10,000-span chain without recursion', () => {
    const spans = Array.from({ length: 10_000 }, (_, i) => ({ id: `s${i}`, ...(i > 0 ? { parent: `s${i - 1}` } : {}), service: 'deep', start: i, end: 20_000 - i }));
    const tree = buildTree(handTrace(spans));
    expect(tree.maxDepth).toBe(9_999);
    expect(tree.order.length).toBe(10_000);
  });
});
