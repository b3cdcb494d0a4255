// Shapes shared by drawing and hit-testing, so a click lands on exactly what was drawn. Pure.
import type { Point } from './layout.ts';
import type { GraphEdgeModel } from './model.ts';

export const NODE_RADIUS = 18;

/** An edge is a quadratic curve from the rim of its source to the rim of its target. */
export interface EdgeCurve {
  from: Point;
  control: Point;
  to: Point;
}

/**
 * The curve of an edge. A pair of opposite edges (a ⇄ b) bend away from each other so both stay visible;
 * a lone edge bends slightly, which keeps parallel paths and labels apart.
 */
export function edgeCurve(source: Point, target: Point, hasReverse: boolean): EdgeCurve {
  const dx = target.x - source.x;
  const dy = target.y - source.y;
  const length = Math.hypot(dx, dy) || 1;
  const ux = dx / length;
  const uy = dy / length;
  const bend = hasReverse ? 0.18 * length : 0.06 * length;
  const mid = { x: (source.x + target.x) / 2 - uy * bend, y: (source.y + target.y) / 2 + ux * bend };
  // Start and end on the nodes' rims (aimed at the control point, where the curve leaves the node).
  const rim = (centre: Point, towards: Point, gap: number): Point => {
    const ddx = towards.x - centre.x;
    const ddy = towards.y - centre.y;
    const d = Math.hypot(ddx, ddy) || 1;
    return { x: centre.x + (ddx / d) * gap, y: centre.y + (ddy / d) * gap };
  };
  return { from: rim(source, mid, NODE_RADIUS + 2), control: mid, to: rim(target, mid, NODE_RADIUS + 5) };
}

export function pointOnCurve(curve: EdgeCurve, t: number): Point {
  const u = 1 - t;
  return {
    x: u * u * curve.from.x + 2 * u * t * curve.control.x + t * t * curve.to.x,
    y: u * u * curve.from.y + 2 * u * t * curve.control.y + t * t * curve.to.y,
  };
}

/** Unit direction of the curve at t. */
export function tangentOnCurve(curve: EdgeCurve, t: number): Point {
  const x = 2 * (1 - t) * (curve.control.x - curve.from.x) + 2 * t * (curve.to.x - curve.control.x);
  const y = 2 * (1 - t) * (curve.control.y - curve.from.y) + 2 * t * (curve.to.y - curve.control.y);
  const d = Math.hypot(x, y) || 1;
  return { x: x / d, y: y / d };
}

/** Distance from p to the curve (sampled; plenty for picking). */
export function distanceToCurve(curve: EdgeCurve, p: Point, samples = 16): number {
  let best = Infinity;
  let previous = curve.from;
  for (let i = 1; i <= samples; i++) {
    const next = pointOnCurve(curve, i / samples);
    best = Math.min(best, distanceToSegment(p, previous, next));
    previous = next;
  }
  return best;
}

function distanceToSegment(p: Point, a: Point, b: Point): number {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const lengthSquared = dx * dx + dy * dy;
  const t = lengthSquared === 0 ? 0 : Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / lengthSquared));
  return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}

/** Edge ids whose reverse edge also exists. */
export function reversedPairs(edges: readonly GraphEdgeModel[]): Set<string> {
  const pairs = new Set(edges.map((edge) => `${edge.source}\u0000${edge.target}`));
  return new Set(edges.filter((edge) => pairs.has(`${edge.target}\u0000${edge.source}`)).map((edge) => edge.id));
}

// ---- how traffic looks ----------------------------------------------------------------------------------

/** Stroke width in screen-independent units: logarithmic in the rate, 1 (a trickle) to 9 (≥ 10k rps). */
export function edgeWidth(rps: number): number {
  return Math.min(9, 1 + 2 * Math.log10(1 + Math.max(0, rps) * 10) * 0.8);
}

export type Health = 'ok' | 'warn' | 'error' | 'idle';

/** Colour class from the error share: Kiali's thresholds (any error ≥ 0.1 % warns, ≥ 5 % is an error). */
export function healthOf(errorRate: number, requests: number): Health {
  if (requests <= 0) return 'idle';
  if (errorRate >= 0.05) return 'error';
  if (errorRate >= 0.001) return 'warn';
  return 'ok';
}

/** Moving dots per edge and their speed (curve lengths per second): both grow with the log of the rate. */
export function flowOf(rps: number): { dots: number; speed: number } {
  if (rps <= 0) return { dots: 0, speed: 0 };
  const magnitude = Math.log10(1 + rps * 10);
  return { dots: Math.max(1, Math.min(6, Math.round(1 + magnitude * 1.2))), speed: 0.12 + 0.12 * magnitude };
}

// ---- numbers as labels ----------------------------------------------------------------------------------

export function formatRps(rps: number): string {
  if (rps === 0) return '0 rps';
  if (rps < 0.01) return '<0.01 rps';
  if (rps < 10) return `${rps.toFixed(2)} rps`;
  if (rps < 1000) return `${rps.toFixed(1)} rps`;
  return `${(rps / 1000).toFixed(1)}k rps`;
}

export function formatPercent(fraction: number): string {
  const percent = fraction * 100;
  if (percent === 0) return '0%';
  if (percent < 0.1) return '<0.1%';
  if (percent < 10) return `${percent.toFixed(1)}%`;
  return `${Math.round(percent)}%`;
}

export function formatMs(ms: number | null): string {
  if (ms === null) return '–';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The label on an edge: rate, error share, p95. */
export function edgeLabel(edge: Pick<GraphEdgeModel, 'rps' | 'errorRate' | 'p95Ms'>): string {
  return `${formatRps(edge.rps)} · ${formatPercent(edge.errorRate)} · p95 ${formatMs(edge.p95Ms)}`;
}
