import { describe, expect, it } from 'vitest';
import type { ApiEdge, ApiNode, ServiceGraph } from '../api.ts';
import { MAX_FRAMES, frameGraph, frameIndexAt, frameSecondsFor, replayFrames } from './replay.ts';

const t0 = 1_764_140_000_000 - (1_764_140_000_000 % 60_000);

describe('replay frames', () => {
  it('cuts a window into minute-aligned frames that touch without overlapping', () => {
    const frames = replayFrames({ start: t0 + 20_000, end: t0 + 5 * 60_000 }, 120);
    expect(frames).toEqual([
      { start: t0, end: t0 + 120_000 - 1 },
      { start: t0 + 120_000, end: t0 + 240_000 - 1 },
      { start: t0 + 240_000, end: t0 + 360_000 - 1 },
    ]);
  });

  it('keeps a replay to at most MAX_FRAMES frames', () => {
    expect(frameSecondsFor({ start: t0, end: t0 + 15 * 60_000 })).toBe(60);
    expect(frameSecondsFor({ start: t0, end: t0 + 15 * 60_000 }, 300)).toBe(300);
    expect(frameSecondsFor({ start: t0, end: t0 + 6 * 3_600_000 }, 60)).toBe(300);
    expect(frameSecondsFor({ start: t0, end: t0 + 24 * 3_600_000 })).toBe(900);
    // A frame that is not whole minutes is not offered by the API's per-minute rows.
    expect(frameSecondsFor({ start: t0, end: t0 + 60 * 60_000 }, 90)).toBe(60);
    const day = { start: t0, end: t0 + 24 * 3_600_000 };
    expect(replayFrames(day, frameSecondsFor(day)).length).toBeLessThanOrEqual(MAX_FRAMES);
  });

  it('finds the frame of a time', () => {
    const frames = replayFrames({ start: t0, end: t0 + 3 * 60_000 }, 60);
    expect(frameIndexAt(frames, t0 + 61_000)).toBe(1);
    expect(frameIndexAt(frames, t0 - 5)).toBe(0);
    expect(frameIndexAt(frames, t0 + 10 * 60_000)).toBe(2);
  });
});

describe('a frame drawn over the whole window', () => {
  const node = (id: string, requests: number): ApiNode => ({ id, name: id, namespace: 'ns', kind: 'service', requests, errors: 1, p50Ms: 3, p95Ms: 4, p99Ms: 5 });
  const edge = (source: string, target: string, requests: number): ApiEdge => ({
    id: `${source}->${target}`, source, target, protocol: 'http', requests, errors: 0, rps: 1, errorRate: 0, p50Ms: 1, p95Ms: 2, p99Ms: 3, mtls: null, signals: ['spans'],
  });
  const whole: ServiceGraph = { start: t0, end: t0 + 600_000, nodes: [node('a', 0), node('b', 10), node('c', 5)], edges: [edge('a', 'b', 10), edge('b', 'c', 5)] };
  const frame: ServiceGraph = { start: t0, end: t0 + 59_999, nodes: [node('a', 0), node('b', 2)], edges: [edge('a', 'b', 2)] };

  it('has every node of the window, the absent ones idle, and only the frame’s edges', () => {
    const drawn = frameGraph(whole, frame);
    expect(drawn.nodes.map((n) => [n.id, n.requests])).toEqual([['a', 0], ['b', 2], ['c', 0]]);
    expect(drawn.nodes[2]).toMatchObject({ errors: 0, p95Ms: null });
    expect(drawn.edges.map((e) => [e.id, e.requests])).toEqual([['a->b', 2]]);
    expect([drawn.start, drawn.end]).toEqual([frame.start, frame.end]);
  });
});
