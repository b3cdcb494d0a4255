// The timeline scrubber's pure parts: a window cut into minute-aligned frames, and one frame's graph drawn
// over the whole window's nodes (so every node keeps its place and only the traffic changes).
import type { ApiNode, ServiceGraph } from '../api.ts';

/** Frame lengths offered, in seconds (the API's rows are per minute, so a minute is the finest). */
export const FRAME_LENGTHS = [60, 300, 900, 3600] as const;

/** The most frames a replay steps through; a longer frame is chosen past that. */
export const MAX_FRAMES = 120;

export interface Frame {
  /** First millisecond of the frame (a minute boundary). */
  start: number;
  /** Last millisecond of the frame: the API counts whole minutes up to the one `end` falls in, inclusive. */
  end: number;
}

/** The frame length to use: the one asked for if it gives at most MAX_FRAMES, else the shortest that does. */
export function frameSecondsFor(window: { start: number; end: number }, wanted?: number): number {
  const fits = (seconds: number) => Math.ceil((window.end - window.start) / (seconds * 1000)) <= MAX_FRAMES;
  if (wanted !== undefined && wanted >= 60 && wanted % 60 === 0 && fits(wanted)) return wanted;
  return FRAME_LENGTHS.find(fits) ?? 3600;
}

/** The window's frames: from the minute `start` falls in, `frameSeconds` each, until one reaches `end`. */
export function replayFrames(window: { start: number; end: number }, frameSeconds: number): Frame[] {
  const length = frameSeconds * 1000;
  const first = Math.floor(window.start / 60_000) * 60_000;
  const frames: Frame[] = [];
  for (let start = first; start < window.end && frames.length < MAX_FRAMES * 2; start += length) frames.push({ start, end: start + length - 1 });
  return frames;
}

/** The index of the frame holding time `at` (clamped into the window's frames). */
export function frameIndexAt(frames: readonly Frame[], at: number): number {
  const index = frames.findIndex((frame) => at >= frame.start && at <= frame.end);
  if (index >= 0) return index;
  return frames.length > 0 && at > frames[frames.length - 1]!.end ? frames.length - 1 : 0;
}

/**
 * One frame's graph over the whole window's nodes: the frame's nodes and edges as the API answered them,
 * plus every other node of the window with no traffic, so nothing appears or vanishes while scrubbing.
 */
export function frameGraph(whole: ServiceGraph, frame: ServiceGraph): ServiceGraph {
  const present = new Set(frame.nodes.map((node) => node.id));
  const idle: ApiNode[] = whole.nodes
    .filter((node) => !present.has(node.id))
    .map((node) => ({ ...node, requests: 0, errors: 0, p50Ms: null, p95Ms: null, p99Ms: null }));
  return { start: frame.start, end: frame.end, nodes: [...frame.nodes, ...idle], edges: frame.edges };
}
