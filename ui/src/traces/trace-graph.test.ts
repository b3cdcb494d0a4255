import { describe, expect, it } from 'vitest';
import { SHOP } from './fixtures.test-helper.ts';
import { traceGraph } from './trace-graph.ts';
import { buildTree } from './tree.ts';

describe('trace service graph', () => {
  it('draws one edge per caller→callee service pair with its calls and failures', () => {
    const graph = traceGraph(buildTree(SHOP));
    expect(graph.edges).toEqual([
      { source: 'frontend', target: 'auth', calls: 1, errors: 0 },
      { source: 'frontend', target: 'db', calls: 1, errors: 1 },
    ]);
    expect(graph.nodes).toEqual([
      { service: 'frontend', spans: 4, errors: 0, column: 0, row: 0 },
      { service: 'auth', spans: 1, errors: 0, column: 1, row: 0 },
      { service: 'db', spans: 3, errors: 1, column: 1, row: 1 },
      { service: 'cache', spans: 1, errors: 0, column: 0, row: 1 },
    ]);
    expect(graph.columns).toBe(2);
  });
});
