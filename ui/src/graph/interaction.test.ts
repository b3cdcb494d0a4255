import { quadtree } from 'd3-quadtree';
import { describe, expect, it } from 'vitest';
import { edgeCurve } from './geometry.ts';
import { pick } from './interaction.ts';
import type { GraphEdgeModel } from './model.ts';

const edge = (source: string, target: string): GraphEdgeModel => ({ id: `${source}->${target}`, source, target, protocols: ['http'], requests: 1, errors: 0, rps: 1, errorRate: 0, p50Ms: 1, p95Ms: 1, p99Ms: 1, mtls: 'unknown', signals: ['spans'] });

describe('pick', () => {
  const at = { a: { x: 0, y: 0 }, b: { x: 300, y: 0 }, c: { x: 0, y: 300 } };
  const nodes = quadtree<{ id: string; x: number; y: number }>()
    .x((d) => d.x)
    .y((d) => d.y)
    .addAll(Object.entries(at).map(([id, p]) => ({ id, ...p })));
  const drawn = [
    { edge: edge('a', 'b'), curve: edgeCurve(at.a, at.b, false) },
    { edge: edge('a', 'c'), curve: edgeCurve(at.a, at.c, false) },
  ];

  it('finds the node under the pointer first, within its radius', () => {
    expect(pick(nodes, drawn, { x: 5, y: -8 }, 1)).toEqual({ kind: 'node', id: 'a' });
    expect(pick(nodes, drawn, { x: 296, y: 10 }, 1)).toEqual({ kind: 'node', id: 'b' });
  });

  it('else the edge whose drawn curve passes within a few screen pixels', () => {
    const middle = drawn[0]!.curve.control;
    // The curve's middle lies halfway between its ends and its control point.
    const onCurve = { x: (drawn[0]!.curve.from.x + 2 * middle.x + drawn[0]!.curve.to.x) / 4, y: (drawn[0]!.curve.from.y + 2 * middle.y + drawn[0]!.curve.to.y) / 4 };
    expect(pick(nodes, drawn, { x: onCurve.x, y: onCurve.y + 4 }, 1)).toEqual({ kind: 'edge', id: 'a->b' });
    // Zoomed out 4×, the same 4 layout units are 1 screen pixel: still a hit; 20 units are not at 1×.
    expect(pick(nodes, drawn, { x: onCurve.x, y: onCurve.y + 20 }, 1)).toBeNull();
    expect(pick(nodes, drawn, { x: onCurve.x, y: onCurve.y + 20 }, 0.25)).toEqual({ kind: 'edge', id: 'a->b' });
  });

  it('finds nothing on empty canvas', () => {
    expect(pick(nodes, drawn, { x: 200, y: 200 }, 1)).toBeNull();
  });
});
