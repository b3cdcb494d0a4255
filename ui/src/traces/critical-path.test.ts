import { describe, expect, it } from 'vitest';
import { criticalPath, criticalTimeBySpan } from './critical-path.ts';
import { BASE, SHOP, handTrace } from './fixtures.test-helper.ts';
import { buildTree } from './tree.ts';

const relative = (trace: Parameters<typeof buildTree>[0]) => criticalPath(buildTree(trace)).map((s) => `${s.spanId} ${s.startUs - BASE}-${s.endUs - BASE}`);

describe('critical path', () => {
  it('walks back from the root end through the last-finishing child before each point', () => {
    expect(relative(SHOP)).toEqual([
      'root 0-5', 'a 5-6', 'b 6-24', 'a 24-25', 'root 25-30', 'c 30-32', 'd 32-40', 'e 40-50', 'd 50-60', 'f 60-85', 'd 85-88', 'c 88-90', 'root 90-92', 'g 92-96', 'root 96-100',
    ]);
    // The path covers the root's whole duration exactly once, and the orphan is not on it.
    const time = criticalTimeBySpan(criticalPath(buildTree(SHOP)));
    expect([...time.values()].reduce((a, b) => a + b, 0)).toBe(100);
    expect(time.has('h')).toBe(false);
  });

  it('skips a parallel child that finishes after the cursor has moved before its end', () => {
    // q (50–90) is picked first; the cursor moves to 50, and p (10–80) ends after it: p is not on the path.
    expect(relative(handTrace([
      { id: 'r', service: 's', start: 0, end: 100 },
      { id: 'p', parent: 'r', service: 's', start: 10, end: 80 },
      { id: 'q', parent: 'r', service: 's', start: 50, end: 90 },
    ]))).toEqual(['r 0-50', 'q 50-90', 'r 90-100']);
  });

  it('clips a child that outlives its parent, and ignores one wholly outside it', () => {
    expect(relative(handTrace([
      { id: 'r', service: 's', start: 0, end: 50 },
      { id: 'y', parent: 'r', service: 's', start: 0, end: 5 },
      { id: 'x', parent: 'r', service: 's', start: 10, end: 70 },
      { id: 'z', parent: 'r', service: 's', start: 60, end: 70 },
    ]))).toEqual(['y 0-5', 'r 5-10', 'x 10-50']);
  });

  it('is empty for an empty trace', () => {
    expect(criticalPath(buildTree(handTrace([])))).toEqual([]);
  });
});
