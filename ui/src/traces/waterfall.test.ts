import { describe, expect, it } from 'vitest';
import { SHOP, handTrace } from './fixtures.test-helper.ts';
import { buildTree } from './tree.ts';
import { MIN_BAR_PERCENT, collapseBelow, formatDuration, visibleRange, waterfallRows } from './waterfall.ts';

const brief = (rows: ReturnType<typeof waterfallRows>) => rows.map((r) => [r.node.span.spanId, r.index, r.depth, r.left, r.width, r.hasChildren, r.collapsed, r.hiddenCount]);

describe('waterfall rows', () => {
  it('lays every span out as a row: depth, and its bar on the trace time axis (100 µs = 100 %)', () => {
    expect(brief(waterfallRows(buildTree(SHOP), new Set()))).toEqual([
      ['root', 0, 0, 0, 100, true, false, 0],
      ['a', 1, 1, 5, 20, true, false, 0],
      ['b', 2, 2, 6, 18, false, false, 0],
      ['c', 3, 1, 30, 60, true, false, 0],
      ['d', 4, 2, 32, 56, true, false, 0],
      ['e', 5, 3, 40, 10, false, false, 0],
      ['f', 6, 3, 60, 25, false, false, 0],
      ['g', 7, 1, 92, 4, false, false, 0],
      ['h', 8, 0, 10, 10, false, false, 0],
    ]);
  });

  it('hides the subtree of a collapsed span and counts what it hides', () => {
    expect(brief(waterfallRows(buildTree(SHOP), new Set(['c', 'b'])))).toEqual([
      ['root', 0, 0, 0, 100, true, false, 0],
      ['a', 1, 1, 5, 20, true, false, 0],
      ['b', 2, 2, 6, 18, false, false, 0],
      ['c', 3, 1, 30, 60, true, true, 3],
      ['g', 4, 1, 92, 4, false, false, 0],
      ['h', 5, 0, 10, 10, false, false, 0],
    ]);
  });

  it('gives a zero-length span a visible bar', () => {
    const rows = waterfallRows(buildTree(handTrace([{ id: 'r', service: 's', start: 0, end: 1000 }, { id: 'z', parent: 'r', service: 's', start: 500, end: 500 }])), new Set());
    expect(rows[1]).toMatchObject({ left: 50, width: MIN_BAR_PERCENT });
  });

  it('collapses deep subtrees for a first look at a big trace', () => {
    expect([...collapseBelow(buildTree(SHOP), 2)]).toEqual(['d']);
  });

  it('renders only the rows in the viewport, plus overscan', () => {
    expect(visibleRange(10_000, 24, 0, 480, 5)).toEqual({ first: 0, last: 25 });
    expect(visibleRange(10_000, 24, 24_000, 480, 5)).toEqual({ first: 995, last: 1025 });
    expect(visibleRange(30, 24, 24_000, 480, 5)).toEqual({ first: 995, last: 995 });
  });

  it('formats durations', () => {
    expect([formatDuration(789), formatDuration(1_234), formatDuration(45_600), formatDuration(123_400), formatDuration(1_230_000), formatDuration(12_300_000)]).toEqual(['789µs', '1.23ms', '45.6ms', '123ms', '1.23s', '12.3s']);
  });
});
